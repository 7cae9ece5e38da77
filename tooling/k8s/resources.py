"""Pieces of the generated workloads (the portal, the consultation service, the federation
gateway, the SMS gateway simulator): labels, a hardened container's security context, a
Deployment, its Service, HPA and PDB, and NetworkPolicies, each a fresh dict."""

from __future__ import annotations

from typing import Any

from tooling.k8s import PART_OF, pod_security_context

KAFKA_PODS = {"strimzi.io/cluster": "tongban", "strimzi.io/kind": "Kafka"}


def labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": name,
        "app.kubernetes.io/part-of": PART_OF,
    }


def selector(name: str) -> dict[str, Any]:
    return {"matchLabels": {"app.kubernetes.io/name": name}}


def secret_env(variable: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def hardened() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def deployment(
    name: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    *,
    replicas: int,
    single: bool = False,
) -> dict[str, Any]:
    """`single`: one pod, replaced (Recreate), never two at once."""
    spec: dict[str, Any] = {"replicas": replicas}
    if single:
        spec["strategy"] = {"type": "Recreate"}
    spec |= {
        "selector": selector(name),
        "template": {
            "metadata": {"labels": labels(name)},
            "spec": {
                "serviceAccountName": "tongban",
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(),
                "terminationGracePeriodSeconds": 30,
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": spec,
    }


def service(name: str, port: int, port_name: str = "http") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": port_name, "port": port, "targetPort": port_name}],
        },
    }


def pdb(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {"maxUnavailable": 1, "selector": selector(name)},
    }


def hpa(name: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": minimum,
            "maxReplicas": maximum,
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


def policy(name: str, component: str, kind: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A NetworkPolicy for the pods of `component`: `kind` Ingress or Egress, its rules."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": PART_OF}},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": component}},
            "policyTypes": [kind],
            kind.lower(): rules,
        },
    }


def pods(component: str) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}]


def tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def backends_egress(component: str) -> dict[str, Any]:
    """PostgreSQL (outside the cluster), the Strimzi brokers and the OTLP collector, as
    network-policies.yaml's allow-egress-backends gives the four services."""
    return policy(
        f"allow-egress-{component}-backends",
        component,
        "Egress",
        [
            {"ports": tcp(5432)},
            {"to": [{"podSelector": {"matchLabels": dict(KAFKA_PODS)}}], "ports": tcp(9092, 9093)},
            {
                "to": [
                    {"namespaceSelector": {"matchLabels": {"tongban.gov.cn/monitoring": "true"}}}
                ],
                "ports": tcp(4318),
            },
        ],
    )


def from_ingress_controller(component: str, port: str = "http") -> dict[str, Any]:
    return policy(
        f"allow-ingress-{component}",
        component,
        "Ingress",
        [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"tongban.gov.cn/ingress": "true"}}}
                ],
                "ports": tcp(port),
            }
        ],
    )
