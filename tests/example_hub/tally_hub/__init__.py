"""tally-hub: an example hub that counts tallies (and the ticks of its own timed job)."""
