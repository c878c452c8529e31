"""Timed pullers: OpenCost, Kubernetes and token-usage exports turned into events."""
