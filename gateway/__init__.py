"""Everything that enters over HTTP, in three parts, composed into one ASGI app (app.py) and served (server.py):

- identity/: who is calling: the local OIDC issuer, its keys and clients, token verification, sign-in;
- mcp/: the MCP server: every hub's contract as tools, governed by canon-hub's mandates;
- pages/: what people and machines read: the now-view pages, live, and /metrics.

The gateway calls the hubs' contracts over NATS like any client; agents hold no NATS credentials.
"""
