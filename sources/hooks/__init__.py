"""Inbound webhooks from Alertmanager, the forge and Argo CD, verified before anything is published."""
