"""The embedded servers, the local cluster, mesh state and the supervision of `vsmesh up`."""
