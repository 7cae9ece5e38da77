"""Delivery's use cases, one module per feature: the print queue, the hand-over, the registry's
documents (documents; their printing, printing; their revocation, revocations), their public
verification, and postal dispatch."""
