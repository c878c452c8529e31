"""The `vsmesh` command line."""
