"""Delivery's use cases, one module per feature: the print queue, the hand-over, the registry's
documents (printing), their public verification, and postal dispatch."""
