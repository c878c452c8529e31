"""ops-hub: the VSM Operations (S1) hub — what runs where, and the evidence that it is healthy."""
