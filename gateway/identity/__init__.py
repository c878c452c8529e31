"""Who is calling: the local OIDC issuer (keys, the agents' and people's registry, tokens), the verification of
any issuer's tokens into a `Principal`, people's sign-in to the pages, and the identities of agents and services
inside the mesh. It asks nothing of the hubs and holds no NATS connection."""
