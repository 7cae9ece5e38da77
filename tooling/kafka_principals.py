"""The Kafka principals (SASL/SCRAM users) Tongban knows besides the services' own.

Its own module because the launcher, the stack and the deployment files name them without
needing the ACL table (tooling.kafka_acl) that grants them.
"""

from __future__ import annotations

import re

from shared.messaging.readers import AUDIT_WATCHER

# The launcher's super user: creates the topics, applies the ACL table, and is what tests and
# operators' tools use. Not in the table (a super user needs no ACLs).
ADMIN_PRINCIPAL = "tongban-admin"
# `tongban audit watch`: reads the ledger's checkpoints, nothing else (in the ACL table through
# the table of readers, shared.messaging.readers).
AUDIT_WATCH_PRINCIPAL = AUDIT_WATCHER
LOCALITY_PRINCIPAL = re.compile(r"approval-\d{6}")


def locality_principal(locality: str) -> str:
    """The principal of one locality's approval system."""
    return f"approval-{locality}"


def locality_group_prefix(locality: str) -> str:
    """Consumer groups that locality's approval system may use start with this."""
    return f"{locality_principal(locality)}."
