"""The organisation's Git repository as the source of canon, budgets and the catalog, reconciled into events."""
