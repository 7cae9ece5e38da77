"""The federation gateway's use cases: receiving a partner's message, sending ours."""
