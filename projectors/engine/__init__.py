"""The engine: reading a hub's streams, folding batches in memory, writing them with the position in one
transaction; the projection a hub declares, its partitions and the reverted set every fold skips."""
