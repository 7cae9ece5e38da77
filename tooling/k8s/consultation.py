"""The consultation service (services/consultation, 视频会商收件 and 视频核验, contracts/video.md)
as a workload.

One pod (Recreate): the signalling rooms are in its memory, so both parties of a consultation
must reach the same process (contracts/video.md), and a second replica would split them; a
PodDisruptionBudget, no HPA. Its key ring is its own (`consultation`, `pii`,
`sealing-consultation`); it reads the trust list; it is its own Kafka principal; it writes the
recordings into the scans' store (S3 over HTTPS); it asks routing's API for the trust
agreements (原件核验 by video) with the reviewer's token, so the identity provider's tokens for
it name routing's audience too (tongban-routing). Windows and reviewers reach its pages and its
WebSocket through the ingress controller; media goes through the province's TURN relay
(coturn: CONSULTATION_TURN_URLS), which the recording peer reaches on 3478 (UDP, TCP) and 5349
(TLS).
"""

from __future__ import annotations

from typing import Any

from shared.settings import DEFAULT_PORTS
from tooling.k8s.keys import KEY_RING_MOUNT, TRUST_MOUNT, key_ring_volume, keys_secret, trust_volume
from tooling.k8s.resources import (
    backends_egress,
    deployment,
    from_ingress_controller,
    hardened,
    http_probe,
    pdb,
    pods,
    policy,
    secret_env,
    service,
    tcp,
)

CONSULTATION_NAME = "consultation"
CONSULTATION_PORT = DEFAULT_PORTS["consultation"]
# The operator's Secret of the TURN relay's credential (README, "Run on Kubernetes").
CONSULTATION_SECRET = "tongban-consultation"
TURN_URLS = (
    "turn:turn.example.gov.cn:3478?transport=udp,turn:turn.example.gov.cn:3478?transport=tcp"
)


def consultation_resources() -> list[dict[str, Any]]:
    container = {
        "name": CONSULTATION_NAME,
        "image": "tongban",
        "args": ["serve", "consultation", "--host", "0.0.0.0", "--port", str(CONSULTATION_PORT)],
        "ports": [{"name": "http", "containerPort": CONSULTATION_PORT}],
        "envFrom": [{"configMapRef": {"name": "tongban-config"}}],
        "env": [
            {"name": "JWT_AUDIENCE", "value": "tongban-consultation"},
            {"name": "KAFKA_USERNAME", "value": CONSULTATION_NAME},
            secret_env("KAFKA_PASSWORD", CONSULTATION_NAME, "password"),
            secret_env("CONSULTATION_DATABASE_URL", "tongban-database", "consultation-url"),
            secret_env("KEY_RING_SECRET", keys_secret(CONSULTATION_NAME), "key-ring-secret"),
            secret_env("PII_DIGEST_KEY", "tongban-secrets", "pii-digest-key"),
            # The recordings go into the scans' store (BLOB_STORE_URL of tongban-config).
            secret_env("BLOB_STORE_ACCESS_KEY_ID", "tongban-blob-store", "access-key-id"),
            secret_env("BLOB_STORE_SECRET_ACCESS_KEY", "tongban-blob-store", "secret-access-key"),
            {"name": "ROUTING_URL", "value": f"http://routing:{DEFAULT_PORTS['routing']}"},
            {"name": "CONSULTATION_TURN_URLS", "value": TURN_URLS},
            {"name": "CONSULTATION_TURN_USERNAME", "value": "tongban"},
            secret_env("CONSULTATION_TURN_CREDENTIAL", CONSULTATION_SECRET, "turn-credential"),
        ],
        "startupProbe": http_probe("/healthz", periodSeconds=2, failureThreshold=60),
        "livenessProbe": http_probe("/healthz", periodSeconds=10, failureThreshold=3),
        "readinessProbe": http_probe("/readyz", periodSeconds=5, failureThreshold=3),
        "resources": {
            # The recording peer decodes and encodes both parties' video (VP8).
            "requests": {"cpu": "250m", "memory": "384Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        "securityContext": hardened(),
        "volumeMounts": [
            # A call's recording is written here before it goes into the store.
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "keys", "mountPath": KEY_RING_MOUNT, "readOnly": True},
            {"name": "trust", "mountPath": TRUST_MOUNT, "readOnly": True},
        ],
    }
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        key_ring_volume(CONSULTATION_NAME),
        trust_volume(),
    ]
    name = CONSULTATION_NAME
    return [
        deployment(name, container, volumes, replicas=1, single=True),
        service(name, CONSULTATION_PORT),
        pdb(name),
        from_ingress_controller(name),
        backends_egress(name),
        # Routing's API (the agreements); the scans' store (HTTPS); the TURN relay.
        policy(
            "allow-egress-consultation",
            name,
            "Egress",
            [
                {"to": pods("routing"), "ports": tcp(DEFAULT_PORTS["routing"])},
                {"ports": tcp(443)},
                {
                    "ports": [
                        {"protocol": "UDP", "port": 3478},
                        {"protocol": "TCP", "port": 3478},
                        {"protocol": "TCP", "port": 5349},
                    ]
                },
            ],
        ),
        policy(
            "allow-routing-from-consultation",
            "routing",
            "Ingress",
            [{"from": pods(name), "ports": tcp("http")}],
        ),
    ]
