"""Spreading projectors over processes: NATS KV leases (one holder, standbys) and a partitioned hub's share
of them, each partition folding its part of the log."""
