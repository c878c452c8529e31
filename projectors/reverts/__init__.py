"""Re-folding only what a late revert touched (the entities it keys on), so a revert shows within seconds."""
