"""Notifications: routes (canon policy values), receivers (webhook, email, Apprise), silences, the delivery ledger."""
