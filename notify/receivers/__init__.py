"""Receivers: one module per protocol a notification can be delivered over."""
