"""Everything that enters over HTTP: identity (OIDC), mandates, the MCP server, pages, /metrics.

The gateway calls the hubs' contracts over NATS like any client; agents hold no NATS credentials.
"""
