"""Approval's use cases, one module per feature: cases, decisions, certificates, supervision.
Each takes the open transaction (one unit of work) first, then what it needs."""
