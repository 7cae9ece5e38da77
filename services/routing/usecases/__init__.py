"""Routing's use cases, shared by its HTTP API and its consumers, one module per feature.

Each takes the open transaction (one unit of work) and the service's outbox, and raises domain
errors (shared.errors), never HTTP ones. Every change to a rule or an agreement is published in
the same transaction to the compacted `tongban.routing.rules`, which is how intake's replica
learns of it.
"""
