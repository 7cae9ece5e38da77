"""The state's commercial cryptography (GB/T 39786) behind interfaces a hardware module can
implement: SM2 signatures with SM3, SM3 hashes and keyed digests, SM4-GCM encryption, and the
key ring that keeps the keys (generated at first start, stored encrypted, rotatable)."""
