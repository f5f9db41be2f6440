"""Helpers the test areas share: a live server, a real webhook receiver, the scaled stack."""
