"""Declarative probes (http, tls, tcp, dns, postgres, backup, kubernetes) whose results are ops-hub evidence.

`model` reads the probe file, `conditions` is its expression language, one module per kind observes,
`evidence` turns a result into an event, `consequences` raises and resolves alerts and risks and moves
readiness gates, and `runner` schedules it all.
"""
