"""Couplings: projectors whose effect is publishing into another hub, their outbox and position in one
transaction, ids derived from the cause."""
