"""What the gateway shows of the mesh to read: the now-view pages per time horizon (server-rendered, kept live
over server-sent events, with their templates and static files) and /metrics, /healthz, /readyz."""
