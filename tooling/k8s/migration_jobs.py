"""The migrations Jobs: `tongban migrate <service>` once per service, with its database and the
one key its data migrations use (`pii`, from the service's own ring); the federation gateway's
with its database only (its ring holds no `pii`: shared.crypto.workloads)."""

from __future__ import annotations

from typing import Any

from tooling.k8s import PART_OF, pod_security_context
from tooling.k8s.keys import KEY_RING_MOUNT, key_ring_volume, keys_secret


def _secret_variable(variable: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def migration_job(service: str, *, pii: bool = True) -> dict[str, Any]:
    """`tongban migrate <service>`: its database, and the one key its data migrations use
    (`pii`, from the service's own ring) unless `pii` is False."""
    name = f"tongban-migrate-{service}"
    keys_env: list[dict[str, Any]] = []
    keys_mount: list[dict[str, Any]] = []
    keys_volume: list[dict[str, Any]] = []
    if pii:
        keys_env = [
            {"name": "KEY_RING_DIR", "value": KEY_RING_MOUNT},
            _secret_variable("KEY_RING_SECRET", keys_secret(service), "key-ring-secret"),
        ]
        keys_mount = [{"name": "keys", "mountPath": KEY_RING_MOUNT, "readOnly": True}]
        keys_volume = [key_ring_volume(service, only=["pii"])]
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "migrations",
        "app.kubernetes.io/part-of": PART_OF,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 6,
            # Removed a while after it finished, so the next `kubectl apply -k` runs it again
            # (a no-op when nothing changed); the services' readiness waits on their tables.
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": "tongban",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "migrate",
                            "image": "tongban",
                            "args": ["migrate", service],
                            "env": [
                                _secret_variable(
                                    f"{service.upper()}_DATABASE_URL",
                                    "tongban-database",
                                    f"{service}-url",
                                ),
                                *keys_env,
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *keys_mount],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        *keys_volume,
                    ],
                },
            },
        },
    }
