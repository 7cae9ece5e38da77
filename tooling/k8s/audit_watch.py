"""The audit watcher (`tongban audit watch`, tooling/audit_watch.py) as a workload: one pod,
reading routing's ledger checkpoints as its own Kafka principal into its own database. It holds
no private key (it verifies routing's signatures with the trust list alone) and serves no HTTP,
so its probes ask how old its heartbeat file is (tooling.heartbeat)."""

from __future__ import annotations

from typing import Any

from tooling.k8s import PART_OF, pod_security_context
from tooling.k8s.keys import TRUST_MOUNT, trust_volume
from tooling.kafka_principals import AUDIT_WATCH_PRINCIPAL

AUDIT_WATCH_NAME = "audit-watch"
HEARTBEAT = "/tmp/audit-watch.alive"
# Its loop turns at least every few seconds; a minute without a turn is a stuck process.
HEARTBEAT_MAX_AGE_SECONDS = 60


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": AUDIT_WATCH_NAME,
        "app.kubernetes.io/component": AUDIT_WATCH_NAME,
        "app.kubernetes.io/part-of": PART_OF,
    }


def _secret(variable: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def _probe(**timing: int) -> dict[str, Any]:
    alive = ["python", "-m", "tooling.heartbeat", HEARTBEAT, str(HEARTBEAT_MAX_AGE_SECONDS)]
    return {"exec": {"command": alive}, "timeoutSeconds": 5, **timing}


def audit_watch_resources() -> list[dict[str, Any]]:
    """Its Deployment (one replica: a second would store the same records again, harmlessly
    but for nothing; Recreate, so two never overlap) and its PodDisruptionBudget."""
    labels = _labels()
    selector = {"matchLabels": {"app.kubernetes.io/name": AUDIT_WATCH_NAME}}
    container = {
        "name": AUDIT_WATCH_NAME,
        "image": "tongban",
        "args": ["audit", "watch", "--heartbeat", HEARTBEAT],
        "envFrom": [{"configMapRef": {"name": "tongban-config"}}],
        "env": [
            # Its own principal (the KafkaUser of kafka/users.yaml): the checkpoints, read only.
            {"name": "KAFKA_USERNAME", "value": AUDIT_WATCH_PRINCIPAL},
            _secret("KAFKA_PASSWORD", AUDIT_WATCH_PRINCIPAL, "password"),
            # Its own database (the table is made at start when missing), not routing's.
            _secret("AUDIT_WATCH_DATABASE_URL", "tongban-database", "audit-watch-url"),
        ],
        "startupProbe": _probe(periodSeconds=5, failureThreshold=36),
        "livenessProbe": _probe(periodSeconds=20, failureThreshold=3),
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The trust list and its anchor only, read-only: no key ring at all.
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "trust", "mountPath": TRUST_MOUNT, "readOnly": True},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": AUDIT_WATCH_NAME, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": selector,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "tongban",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                        trust_volume(),
                    ],
                },
            },
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": AUDIT_WATCH_NAME, "labels": labels},
        # One pod: a drain may move it (it resumes after the last record it stored).
        "spec": {"maxUnavailable": 1, "selector": selector},
    }
    return [deployment, pdb]
