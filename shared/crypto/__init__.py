"""The state's commercial cryptography (GB/T 39786) behind interfaces a hardware module can
implement: SM2 signatures with SM3, SM3 hashes and keyed digests, SM4-GCM encryption, and the
key ring that keeps one workload's keys (stored encrypted, rotatable; made on first use in
development only) and the trust list, signed by the province key authority, that verifiers read."""
