"""Approval per locality group: one Deployment (with its HPA and PDB) per city and its counties,
reading only its localities' request topics in a consumer group of its own, holding only its
localities' seals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from shared.reference.localities import PROVINCE, get_locality, locality_codes
from shared.settings import DEFAULT_PORTS, Settings
from tooling.k8s import PART_OF, pod_security_context
from tooling.k8s.keys import (
    APPROVAL_KEYS_SECRET,
    approval_key_ring_volume,
    key_mounts,
    trust_volume,
)
from tooling.kafka_access import approval_group_prefix

# As many approval pods of one group as its request topics have partitions can share the load
# (one per locality by default: shared.messaging.kafka.topic_partitions), and no more than this.
APPROVAL_MAX_REPLICAS = 3
LOCALITY_PARTITIONS = Settings.model_fields["kafka_locality_topic_partitions"].default
# The province's own code has no city: its cases go with the provincial capital's (合肥).
PROVINCE_GROUP = "340100"


def approval_groups(codes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Locality group (a city's code) → the localities its approval Deployment serves: the
    city and its counties; the province's own code goes with the capital's group."""
    groups: dict[str, list[str]] = defaultdict(list)
    for code in sorted(codes if codes is not None else locality_codes()):
        locality = get_locality(code)
        if code == PROVINCE or locality is None:
            group = PROVINCE_GROUP
        elif locality.level == "county" and locality.parent:
            group = locality.parent
        else:
            group = code
        groups[group].append(code)
    return dict(sorted(groups.items()))


def approval_deployment_name(group: str) -> str:
    return f"approval-city-{group}"


def approval_consumer_group(group: str) -> str:
    """Each group is its own consumer group, within the prefix the ACLs allow."""
    return f"{approval_group_prefix()}.city-{group}"


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "approval",
        "app.kubernetes.io/part-of": PART_OF,
    }


def approval_resources(group: str, localities: list[str]) -> list[dict[str, Any]]:
    """Deployment, HorizontalPodAutoscaler and PodDisruptionBudget of one locality group, the
    same shape as the hand-written Deployments of deploy/k8s/base."""
    name = approval_deployment_name(group)
    port = DEFAULT_PORTS["approval"]
    city = get_locality(group)
    labels = _labels(name)
    selector = {"matchLabels": {"app.kubernetes.io/name": name}}

    def secret(variable: str, secret_name: str, key: str) -> dict[str, Any]:
        return {
            "name": variable,
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}},
        }

    def probe(path: str, **timing: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, **timing}

    container = {
        "name": "approval",
        "image": "tongban",
        "args": ["serve", "approval", "--host", "0.0.0.0", "--port", str(port)],
        "ports": [{"name": "http", "containerPort": port}],
        "envFrom": [{"configMapRef": {"name": "tongban-config"}}],
        "env": [
            {"name": "APPROVAL_LOCALITIES", "value": ",".join(localities)},
            {"name": "APPROVAL_CONSUMER_GROUP", "value": approval_consumer_group(group)},
            {"name": "JWT_AUDIENCE", "value": "tongban-approval"},
            {"name": "KAFKA_USERNAME", "value": "approval"},
            secret("KAFKA_PASSWORD", "approval", "password"),
            secret("APPROVAL_DATABASE_URL", "tongban-database", "approval-url"),
            secret("KEY_RING_SECRET", APPROVAL_KEYS_SECRET, "key-ring-secret"),
            secret("PII_DIGEST_KEY", "tongban-secrets", "pii-digest-key"),
            secret("BLOB_STORE_ACCESS_KEY_ID", "tongban-blob-store", "access-key-id"),
            secret("BLOB_STORE_SECRET_ACCESS_KEY", "tongban-blob-store", "secret-access-key"),
        ],
        "startupProbe": probe("/healthz", periodSeconds=2, failureThreshold=60),
        "livenessProbe": probe("/healthz", periodSeconds=10, failureThreshold=3),
        "readinessProbe": probe("/readyz", periodSeconds=5, failureThreshold=3),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *key_mounts()],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "tongban/locality-group": f"{group} ({city.name if city else group})",
            },
        },
        "spec": {
            "replicas": 1,
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
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        approval_key_ring_volume(group, localities),
                        trust_volume(),
                    ],
                },
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            # Beyond the request topics' partitions a consumer would sit idle.
            "maxReplicas": min(APPROVAL_MAX_REPLICAS, len(localities) * LOCALITY_PARTITIONS),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": selector},
    }
    return [deployment, hpa, pdb]
