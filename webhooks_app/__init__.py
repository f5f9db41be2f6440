"""Webhook configuration, deliveries and their attempts."""
