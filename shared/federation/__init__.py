"""跨省通办 federation: the signed anchors that make a partner province trusted, and the signed
messages gateways exchange (contracts/federation.md). Here, not in services/federation, because
the operators' CLI (`tongban federation ...`) reads and writes the same anchors."""
