"""Webhook configuration, deliveries and their attempts (the webhooks issue builds it out)."""
