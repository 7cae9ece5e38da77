"""The federation gateway (services/federation, 跨省通办, contracts/federation.md) as a workload.

`python -m services.federation`, HTTPS with mutual TLS only, so its probes are exec probes
over that TLS with its own certificate (services/federation/probe.py). What it mounts, each
read-only:
- its key ring: the `federation` key alone (shared.crypto.workloads), from its own Secret;
- the trust list (the province's events it reads are signed by routing);
- its TLS certificate, key and the CA bundle partners' certificates chain to
  (`tongban-federation-tls`: tls.crt, tls.key, ca.crt from the PKI the provinces agreed on);
- the partner provinces' anchors (the ConfigMap `tongban-federation-partners`, optional and
  made by the operators, never by this generator: no partner is trusted by default, and an
  `apply -k` cannot bring back an anchor an operator removed). The gateway lists the folder for
  every message, so an anchor added or removed takes effect when the kubelet updates the
  volume (within about a minute).
Two pods share the work (the outbox rows are taken `FOR UPDATE SKIP LOCKED`, the Kafka
partitions by the consumer group); partners reach it through a TLS-passthrough load balancer
or ingress (`tongban.gov.cn/federation-ingress=true` on its namespace), never one that ends
TLS, which would take the client certificate away.
"""

from __future__ import annotations

from typing import Any

from shared.settings import DEFAULT_PORTS
from tooling.k8s.keys import KEY_RING_MOUNT, TRUST_MOUNT, key_ring_volume, keys_secret, trust_volume
from tooling.k8s.resources import (
    backends_egress,
    deployment,
    hardened,
    hpa,
    pdb,
    policy,
    secret_env,
    service,
    tcp,
)

FEDERATION_NAME = "federation"
FEDERATION_PORT = DEFAULT_PORTS["federation"]
FEDERATION_TLS_SECRET = "tongban-federation-tls"
PARTNERS_CONFIG_MAP = "tongban-federation-partners"
TLS_MOUNT = "/etc/tongban/federation/tls"
PARTNERS_MOUNT = "/etc/tongban/federation/partners"
PROBE = ["python", "-m", "services.federation.probe"]
# What this province's anchor tells partners (`tongban federation anchor export`).
GATEWAY_URL = f"https://federation.tongban.example.gov.cn:{FEDERATION_PORT}"


def _probe(path: str, **timing: int) -> dict[str, Any]:
    return {"exec": {"command": [*PROBE, path]}, "timeoutSeconds": 5, **timing}


def federation_resources() -> list[dict[str, Any]]:
    name = FEDERATION_NAME
    container = {
        "name": name,
        "image": "tongban",
        "command": ["python", "-m", "services.federation"],
        "args": ["--host", "0.0.0.0", "--port", str(FEDERATION_PORT)],
        "ports": [{"name": "https", "containerPort": FEDERATION_PORT}],
        "envFrom": [{"configMapRef": {"name": "tongban-config"}}],
        "env": [
            {"name": "KAFKA_USERNAME", "value": name},
            secret_env("KAFKA_PASSWORD", name, "password"),
            secret_env("FEDERATION_DATABASE_URL", "tongban-database", "federation-url"),
            secret_env("KEY_RING_SECRET", keys_secret(name), "key-ring-secret"),
            # It keeps no ID digest, but no process starts in production without a real one.
            secret_env("PII_DIGEST_KEY", "tongban-secrets", "pii-digest-key"),
            # Scans on request (contracts/federation.md §16): it reads this province's scans a
            # partner asks for and stores those it fetched (BLOB_STORE_URL of tongban-config;
            # S3 over HTTPS, on 443 as the partners' egress allows).
            secret_env("BLOB_STORE_ACCESS_KEY_ID", "tongban-blob-store", "access-key-id"),
            secret_env("BLOB_STORE_SECRET_ACCESS_KEY", "tongban-blob-store", "secret-access-key"),
            {"name": "FEDERATION_PORT", "value": str(FEDERATION_PORT)},
            {"name": "FEDERATION_GATEWAY_URL", "value": GATEWAY_URL},
            {"name": "FEDERATION_TRUST_DIR", "value": PARTNERS_MOUNT},
            {"name": "FEDERATION_TLS_CERT", "value": f"{TLS_MOUNT}/tls.crt"},
            {"name": "FEDERATION_TLS_KEY", "value": f"{TLS_MOUNT}/tls.key"},
            {"name": "FEDERATION_TLS_CA", "value": f"{TLS_MOUNT}/ca.crt"},
        ],
        "startupProbe": _probe("/healthz", periodSeconds=3, failureThreshold=40),
        "livenessProbe": _probe("/healthz", periodSeconds=15, failureThreshold=3),
        "readinessProbe": _probe("/readyz", periodSeconds=10, failureThreshold=3),
        "resources": {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": hardened(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "keys", "mountPath": KEY_RING_MOUNT, "readOnly": True},
            {"name": "trust", "mountPath": TRUST_MOUNT, "readOnly": True},
            {"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True},
            {"name": "partners", "mountPath": PARTNERS_MOUNT, "readOnly": True},
        ],
    }
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        key_ring_volume(name),
        trust_volume(),
        {
            "name": "tls",
            "secret": {
                "secretName": FEDERATION_TLS_SECRET,
                "defaultMode": 0o440,
                "items": [{"key": key, "path": key} for key in ("tls.crt", "tls.key", "ca.crt")],
            },
        },
        {"name": "partners", "configMap": {"name": PARTNERS_CONFIG_MAP, "optional": True}},
    ]
    partner_gateways = {
        "namespaceSelector": {"matchLabels": {"tongban.gov.cn/federation-ingress": "true"}}
    }
    return [
        deployment(name, container, volumes, replicas=2),
        service(name, FEDERATION_PORT, port_name="https"),
        hpa(name, 2, 4),
        pdb(name),
        # Partners' gateways, through the TLS-passthrough entry point; nothing else comes in.
        policy(
            "allow-ingress-federation",
            name,
            "Ingress",
            [{"from": [partner_gateways], "ports": tcp("https")}],
        ),
        backends_egress(name),
        # Partners' gateways (HTTPS, on their anchors' ports: 443 or 8010).
        policy(
            "allow-egress-federation-partners",
            name,
            "Egress",
            [{"ports": tcp(443, FEDERATION_PORT)}],
        ),
    ]
