"""The applicants' portal (services/portal, 全程网办) as a workload, its migrations Job, and the
SMS gateway simulator of development clusters.

The portal holds no private key: it verifies the events it notifies applicants of against the
trust list alone, and calls intake and delivery with its own bearer token (PORTAL_SERVICE_TOKEN,
role `portal`, from the identity provider). It reads those events as its own Kafka principal
(`portal`, a KafkaUser of kafka/users.yaml). Applicants reach it through the ingress controller;
the province's SMS platform (SMS_GATEWAY_URL) posts its signed delivery reports there too.

The simulator (tooling/sms_gateway, contracts/sms-gateway.md) is for the dev overlay only: one
pod (its messages are in memory), pointed at the portal's report route, and the dev overlay's
SMS_GATEWAY_URL points at it. Production texts through the province's platform instead.
"""

from __future__ import annotations

from typing import Any

from shared.settings import DEFAULT_PORTS
from shared.sms import REPORT_PATH
from tooling.k8s import PART_OF, pod_security_context
from tooling.k8s.keys import TRUST_MOUNT, trust_volume
from tooling.k8s.resources import deployment as _deployment
from tooling.k8s.resources import hardened as _hardened
from tooling.k8s.resources import hpa
from tooling.k8s.resources import http_probe as _http_probe
from tooling.k8s.resources import pdb as _pdb
from tooling.k8s.resources import secret_env as _secret
from tooling.k8s.resources import service as _service

PORTAL_NAME = "portal"
SMS_GATEWAY_NAME = "sms-gateway"
PORTAL_PORT = DEFAULT_PORTS["portal"]
SMS_PORT = DEFAULT_PORTS["sms"]
# The operator's Secrets (README, "Run on Kubernetes"): the portal's own secret and token, and
# the registry of residents it signs in against (id_number,name,phone: personal data).
PORTAL_SECRET = "tongban-portal"
RESIDENTS_SECRET = "tongban-portal-residents"
RESIDENTS_MOUNT = "/etc/tongban/residents"


def portal_resources() -> list[dict[str, Any]]:
    """Its Deployment (stateless: sessions, codes and notifications are in its database, so it
    scales on CPU; its consumer group shares the partitions), Service, HPA and PDB."""
    container = {
        "name": PORTAL_NAME,
        "image": "tongban",
        "args": ["serve", "portal", "--host", "0.0.0.0", "--port", str(PORTAL_PORT)],
        "ports": [{"name": "http", "containerPort": PORTAL_PORT}],
        "envFrom": [{"configMapRef": {"name": "tongban-config"}}],
        "env": [
            {"name": "KAFKA_USERNAME", "value": PORTAL_NAME},
            _secret("KAFKA_PASSWORD", PORTAL_NAME, "password"),
            _secret("PORTAL_DATABASE_URL", "tongban-database", "portal-url"),
            _secret("PORTAL_SECRET", PORTAL_SECRET, "secret"),
            _secret("PORTAL_SERVICE_TOKEN", PORTAL_SECRET, "service-token"),
            # It opens no key (its ring would be empty), but every process outside development
            # refuses the public default of this secret (Settings.insecure_settings).
            _secret("KEY_RING_SECRET", PORTAL_SECRET, "key-ring-secret"),
            _secret("PII_DIGEST_KEY", "tongban-secrets", "pii-digest-key"),
            _secret("SMS_REPORT_SECRET", "tongban-secrets", "sms-report-secret"),
            {"name": "PORTAL_RESIDENTS_FILE", "value": f"{RESIDENTS_MOUNT}/residents.csv"},
            {"name": "INTAKE_URL", "value": f"http://intake:{DEFAULT_PORTS['intake']}"},
            {"name": "DELIVERY_URL", "value": f"http://delivery:{DEFAULT_PORTS['delivery']}"},
        ],
        "startupProbe": _http_probe("/healthz", periodSeconds=2, failureThreshold=60),
        "livenessProbe": _http_probe("/healthz", periodSeconds=10, failureThreshold=3),
        # The guides need nothing behind it; a page that does answers its own 503.
        "readinessProbe": _http_probe("/healthz", periodSeconds=5, failureThreshold=3),
        "resources": {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": _hardened(),
        # The trust list (the events' signatures) and the registry, read-only; no key ring.
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "trust", "mountPath": TRUST_MOUNT, "readOnly": True},
            {"name": "residents", "mountPath": RESIDENTS_MOUNT, "readOnly": True},
        ],
    }
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        trust_volume(),
        {
            "name": "residents",
            "secret": {
                "secretName": RESIDENTS_SECRET,
                "defaultMode": 0o440,
                "items": [{"key": "residents.csv", "path": "residents.csv"}],
            },
        },
    ]
    return [
        _deployment(PORTAL_NAME, container, volumes, replicas=2),
        _service(PORTAL_NAME, PORTAL_PORT),
        hpa(PORTAL_NAME, 2, 6),
        _pdb(PORTAL_NAME),
    ]


def portal_migration_job() -> dict[str, Any]:
    """`tongban migrate portal`: its database only (the portal's tables hold no ring-encrypted
    data, so no key is mounted)."""
    name = "tongban-migrate-portal"
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "migrations",
        "app.kubernetes.io/part-of": PART_OF,
    }
    container = {
        "name": "migrate",
        "image": "tongban",
        "args": ["migrate", "portal"],
        "env": [_secret("PORTAL_DATABASE_URL", "tongban-database", "portal-url")],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": _hardened(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": "tongban",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def sms_gateway_resources() -> list[dict[str, Any]]:
    """The simulator (dev overlay): one pod, Recreate (its messages live in its memory), its
    Service, a PDB, and the network flows between it and the portal."""
    container = {
        "name": SMS_GATEWAY_NAME,
        "image": "tongban",
        "command": ["python", "-m", "tooling.sms_gateway"],
        "args": [
            "--host",
            "0.0.0.0",
            "--port",
            str(SMS_PORT),
            "--report-url",
            f"http://{PORTAL_NAME}:{PORTAL_PORT}{REPORT_PATH}",
        ],
        "ports": [{"name": "http", "containerPort": SMS_PORT}],
        "env": [_secret("SMS_REPORT_SECRET", "tongban-secrets", "sms-report-secret")],
        "startupProbe": _http_probe("/healthz", periodSeconds=2, failureThreshold=30),
        "livenessProbe": _http_probe("/healthz", periodSeconds=10, failureThreshold=3),
        "readinessProbe": _http_probe("/healthz", periodSeconds=5, failureThreshold=3),
        "resources": {
            "requests": {"cpu": "50m", "memory": "96Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": _hardened(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]

    def policy(name: str, selected: str, rule: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": selected}},
                "policyTypes": [kind],
                kind.lower(): [rule],
            },
        }

    def pods(component: str) -> list[dict[str, Any]]:
        return [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}]

    port = [{"protocol": "TCP", "port": "http"}]
    return [
        _deployment(SMS_GATEWAY_NAME, container, volumes, replicas=1, single=True),
        _service(SMS_GATEWAY_NAME, SMS_PORT),
        _pdb(SMS_GATEWAY_NAME),
        # The portal sends texts to it; it posts the delivery reports back to the portal.
        policy(
            "allow-sms-gateway-from-portal",
            SMS_GATEWAY_NAME,
            {"from": pods(PORTAL_NAME), "ports": port},
            "Ingress",
        ),
        policy(
            "allow-egress-portal-to-sms-gateway",
            PORTAL_NAME,
            {"to": pods(SMS_GATEWAY_NAME), "ports": [{"protocol": "TCP", "port": SMS_PORT}]},
            "Egress",
        ),
        policy(
            "allow-egress-sms-gateway-reports",
            SMS_GATEWAY_NAME,
            {"to": pods(PORTAL_NAME), "ports": [{"protocol": "TCP", "port": PORTAL_PORT}]},
            "Egress",
        ),
        policy(
            "allow-portal-from-sms-gateway",
            PORTAL_NAME,
            {"from": pods(SMS_GATEWAY_NAME), "ports": port},
            "Ingress",
        ),
    ]
