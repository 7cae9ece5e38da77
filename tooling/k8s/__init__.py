"""The Kubernetes resources that follow from the code: Strimzi topics and users with their ACLs,
one approval Deployment per locality group, the audit watcher, and the migrations Jobs.

Generated, never written by hand, so they cannot drift from the code: the topics and grants are
`tooling.kafka_access.tongban_acl_table()` (the same table the local broker enforces), the
localities are `shared.reference.localities`, the key files each workload's Secret carries are
`shared.crypto.workloads.workload_keys`. `tongban k8s-generate` writes them under
deploy/k8s/base/; tests/unit/test_k8s_manifests.py fails when the committed files differ.

strimzi.py, approval.py, audit_watch.py and migration_jobs.py make the resources (keys.py: what
their pods mount of the keys); manifests.py renders them into the files.
"""

# The app.kubernetes.io/part-of label of every generated resource.
PART_OF = "tongban"


def pod_security_context() -> dict[str, object]:
    """Every generated pod's: a non-root user of the image, the runtime's seccomp profile. A
    fresh dict each time (YAML would write one object used twice as an anchor and alias)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
