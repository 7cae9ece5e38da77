"""deploy/k8s: every overlay builds (kubectl kustomize, or kustomize build), every resource is
valid for Kubernetes (kubernetes-validate) or, for Strimzi's kinds, structurally sound, and the
rules of the deployment hold: probes, resources, non-root read-only containers, no secret
values, a PDB and an HPA per Deployment, default-deny networking; the generated Strimzi topics,
users and approval groups match the code."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.crypto.workloads import workload_keys
from shared.messaging.topics import AUDIT_CHECKPOINTS, ROUTING_RULES
from shared.reference.localities import locality_codes
from shared.settings import SERVICES
from tooling.infra.kustomize import build_command
from tooling.k8s.approval import approval_groups
from tooling.k8s.audit_watch import AUDIT_WATCH_NAME
from tooling.k8s.consultation import CONSULTATION_NAME
from tooling.k8s.federation import FEDERATION_NAME
from tooling.k8s.keys import APPROVAL_KEYS_SECRET, KEY_RING_MOUNT, TRUST_MOUNT, seals_secret
from tooling.k8s.manifests import render_manifests, stale_manifests
from tooling.k8s.portal import PORTAL_NAME, RESIDENTS_MOUNT, SMS_GATEWAY_NAME
from tooling.kafka_access import tongban_acl_table
from tooling.kafka_principals import ADMIN_PRINCIPAL, AUDIT_WATCH_PRINCIPAL

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(path.name for path in (ROOT / "deploy/k8s/overlays").iterdir() if path.is_dir())
KUBERNETES_VERSION = "1.32"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
# Workloads that hold no private key: the watcher and the portal verify with the trust list
# alone; the SMS gateway simulator (dev only) verifies nothing.
WITHOUT_KEY_RING = {AUDIT_WATCH_NAME, PORTAL_NAME, SMS_GATEWAY_NAME}
# Readiness on /healthz: the portal's guides need nothing behind it, the simulator is itself.
READY_WHEN_LIVE = {PORTAL_NAME, SMS_GATEWAY_NAME}
# One pod, replaced (never two at once): the watcher, the simulator's in-memory messages, and
# the consultation service's in-memory signalling rooms (contracts/video.md).
SINGLE_PODS = {AUDIT_WATCH_NAME, SMS_GATEWAY_NAME, CONSULTATION_NAME}


@functools.cache
def build(overlay: str) -> list[dict[str, Any]]:
    command = build_command()
    if command is None:
        pytest.fail("neither kubectl nor kustomize: run `python -m tooling.infra --prepare`")
    result = subprocess.run(
        [*command, str(ROOT / "deploy/k8s/overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in build(overlay) if doc["kind"] == kind]


def test_the_committed_generated_manifests_are_up_to_date() -> None:
    assert stale_manifests(ROOT) == [], (
        "deploy/k8s/base does not match the code; run `tongban k8s-generate` and commit"
    )


def test_there_are_dev_and_prod_overlays() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid(overlay: str) -> None:
    for doc in build(overlay):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in STRIMZI_KINDS:
            # Not in kubernetes-validate's schemas: the fields the Strimzi operator requires.
            assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2", name
            assert doc["metadata"]["namespace"], name
            if doc["kind"] != "Kafka":
                assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "tongban", name
            spec = doc["spec"]
            required = {
                "Kafka": {"kafka"},
                "KafkaNodePool": {"replicas", "roles", "storage"},
                "KafkaTopic": {"partitions", "replicas"},
                "KafkaUser": {"authentication", "authorization"},
            }[doc["kind"]]
            if doc["kind"] == "KafkaUser" and doc["metadata"]["name"] == ADMIN_PRINCIPAL:
                required -= {"authorization"}
            assert required <= set(spec), name
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{overlay}: {name}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_is_probed_bounded_and_unprivileged(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            if name == AUDIT_WATCH_NAME:
                # No HTTP: its probes ask how old its heartbeat file is.
                for probe in ("startupProbe", "livenessProbe"):
                    command = container[probe]["exec"]["command"]
                    assert command[:3] == ["python", "-m", "tooling.heartbeat"], name
                    args = container["args"]
                    assert command[3] == args[args.index("--heartbeat") + 1], name
            elif name == FEDERATION_NAME:
                # HTTPS with mutual TLS only: probed over it with its own certificate.
                asks = ["python", "-m", "services.federation.probe"]
                assert container["livenessProbe"]["exec"]["command"] == [*asks, "/healthz"]
                assert container["readinessProbe"]["exec"]["command"] == [*asks, "/readyz"]
            else:
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
                ready = "/healthz" if name in READY_WHEN_LIVE else "/readyz"
                assert container["readinessProbe"]["httpGet"]["path"] == ready, name
            assert {"requests", "limits"} <= set(container["resources"]), name
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
            assert "/tmp" in mounts, name
            if name != SMS_GATEWAY_NAME:  # a simulator: it checks no signature
                assert mounts[TRUST_MOUNT]["readOnly"] is True, name
            if name in WITHOUT_KEY_RING:
                assert KEY_RING_MOUNT not in mounts, name
            else:
                assert mounts[KEY_RING_MOUNT]["readOnly"] is True, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_committed(overlay: str) -> None:
    for secret in of_kind(overlay, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), secret["metadata"]
    for config in of_kind(overlay, "ConfigMap"):
        for key in config["data"]:
            assert not any(word in key for word in ("SECRET", "PASSWORD", "DIGEST_KEY")), key
    for deployment in of_kind(overlay, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                if any(w in variable["name"] for w in ("SECRET", "PASSWORD", "KEY", "URL")):
                    if (
                        variable["name"].endswith(("_URL", "_URLS"))
                        and "DATABASE" not in variable["name"]
                    ):
                        continue
                    if str(variable.get("value", "")).startswith("/etc/tongban/"):
                        continue  # the path of a file mounted from a Secret (a TLS key)
                    assert "secretKeyRef" in variable.get("valueFrom", {}), variable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_pdb_and_an_hpa_but_the_single_watcher(overlay: str) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(overlay, "Deployment")}
    pdbs = of_kind(overlay, "PodDisruptionBudget")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(overlay, "HorizontalPodAutoscaler")
    }
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert any(p["spec"]["selector"]["matchLabels"] == selector for p in pdbs), name
        if name in SINGLE_PODS:
            # One pod, replaced (never two at once): nothing to scale.
            assert deployment["spec"]["replicas"] == 1
            assert deployment["spec"]["strategy"] == {"type": "Recreate"}
            assert name not in hpas
            continue
        assert name in hpas, name
        assert hpas[name]["spec"]["minReplicas"] <= hpas[name]["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_networking_denies_by_default(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p for p in of_kind(overlay, "NetworkPolicy")}
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    # Only intake, delivery and approval take anything from the ingress controller.
    windows = policies["allow-ingress-windows"]["spec"]["podSelector"]["matchExpressions"][0]
    assert set(windows["values"]) == {"intake", "delivery", "approval"}
    # Only delivery goes out to the carrier; only intake and approval to the blob store.
    carrier = policies["allow-egress-carrier"]["spec"]["podSelector"]["matchLabels"]
    assert carrier == {"app.kubernetes.io/component": "delivery"}
    blob = policies["allow-egress-blob-store"]["spec"]["podSelector"]["matchExpressions"][0]
    assert set(blob["values"]) == {"intake", "approval"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_as_a_job_per_service_with_its_own_pii_key_only(overlay: str) -> None:
    jobs = {job["metadata"]["name"]: job for job in of_kind(overlay, "Job")}
    with_pii = [*SERVICES, CONSULTATION_NAME]
    everyone = [*with_pii, "portal", FEDERATION_NAME]
    assert sorted(jobs) == sorted(f"tongban-migrate-{s}" for s in everyone)
    # The portal's and the gateway's tables hold nothing a ring's key encrypts: their database,
    # no key at all.
    for keyless in ("portal", FEDERATION_NAME):
        pod = jobs.pop(f"tongban-migrate-{keyless}")["spec"]["template"]["spec"]
        assert pod["containers"][0]["args"] == ["migrate", keyless]
        variables = [v["name"] for v in pod["containers"][0]["env"]]
        assert variables == [f"{keyless.upper()}_DATABASE_URL"]
        assert key_files(pod) == set() and mounted_key_ring(pod) is None
    for service in with_pii:
        pod = jobs[f"tongban-migrate-{service}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["migrate", service]
        given = {variable["name"] for variable in container["env"]}
        assert f"{service.upper()}_DATABASE_URL" in given
        assert key_files(pod) == {(f"tongban-keys-{service}", "private/pii.json")}


def mounted_key_ring(pod: dict[str, Any]) -> dict[str, Any] | None:
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == KEY_RING_MOUNT]
    if not mounts:
        return None
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
    return volume


def key_files(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """(Secret, path in the ring) of every private key file the pod's key ring mounts; a
    Secret mounted without `items` would give all its keys, so it is refused outright."""
    volume = mounted_key_ring(pod)
    if volume is None:
        return set()
    if "secret" in volume:
        sources = [{"secret": {"name": volume["secret"]["secretName"], **volume["secret"]}}]
    else:
        sources = volume["projected"]["sources"]
    found = set()
    for source in sources:
        secret = source["secret"]
        assert secret.get("items"), f"{secret['name']} mounted whole"
        for item in secret["items"]:
            if item["path"] != "ring.json":
                found.add((secret["name"], item["path"]))
    return found


def key_name_of(path: str) -> str:
    return path.removeprefix("private/").removesuffix(".json")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_two_workloads_share_private_key_material(overlay: str) -> None:
    holders: dict[tuple[str, str], set[str]] = {}
    for deployment in of_kind(overlay, "Deployment"):
        name = deployment["metadata"]["name"]
        for file in key_files(deployment["spec"]["template"]["spec"]):
            holders.setdefault(file, set()).add(name)
    assert holders
    for (secret, path), deployments in holders.items():
        if len(deployments) == 1:
            continue
        # Only approval's own keys (its database's `pii`, its sealing key) are held by every
        # approval group: the groups are one service over one database. Never a seal.
        assert secret == APPROVAL_KEYS_SECRET, (secret, path, deployments)
        assert not key_name_of(path).startswith("seal-"), (secret, path)
        assert all(d.startswith("approval-city-") for d in deployments), deployments
    # ... and the services' Secrets are not each other's.
    secrets = {secret for secret, _ in holders}
    for deployment in of_kind(overlay, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        own = {secret for secret, _ in key_files(pod)}
        assert len(own & secrets) == len(own)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_mounts_exactly_its_own_keys(overlay: str) -> None:
    for deployment in of_kind(overlay, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        if container.get("command") == ["python", "-m", "services.federation"]:
            workload = FEDERATION_NAME
        elif container["args"][0] != "serve":
            continue  # the audit watcher, the SMS simulator: no ring at all (tests below)
        else:
            workload = container["args"][1]
        env = {v["name"]: v for v in container["env"]}
        if workload == PORTAL_NAME:  # no private key (tested below)
            assert key_files(pod) == set()
            continue
        localities = (
            env["APPROVAL_LOCALITIES"]["value"].split(",") if workload == "approval" else []
        )
        names = {key_name_of(path) for _, path in key_files(pod)}
        assert names == set(workload_keys(workload, localities)), deployment["metadata"]["name"]
        ring_secret = env["KEY_RING_SECRET"]["valueFrom"]["secretKeyRef"]["name"]
        assert ring_secret == f"tongban-keys-{workload}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_approval_groups_seal_secret_names_only_its_localities_seals(overlay: str) -> None:
    groups = approval_groups()
    for group, localities in groups.items():
        (deployment,) = [
            d for d in of_kind(overlay, "Deployment") if d["metadata"]["name"].endswith(group)
        ]
        files = key_files(deployment["spec"]["template"]["spec"])
        seals = {key_name_of(path) for secret, path in files if secret == seals_secret(group)}
        assert seals == {f"seal-{code}" for code in localities}, group
        elsewhere = {key_name_of(p) for s, p in files if s != seals_secret(group)}
        assert not any(name.startswith("seal-") for name in elsewhere), group


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_shared_key_volume_remains(overlay: str) -> None:
    assert of_kind(overlay, "PersistentVolumeClaim") == []
    (config,) = of_kind(overlay, "ConfigMap")
    assert config["data"]["TRUST_LIST"].startswith(TRUST_MOUNT)
    assert config["data"]["TRUST_ANCHOR"].startswith(TRUST_MOUNT)


def test_dev_runs_in_development_mode_and_prod_in_production() -> None:
    (dev,) = of_kind("dev", "ConfigMap")
    (prod,) = of_kind("prod", "ConfigMap")
    assert dev["data"]["TONGBAN_ENV"] == "development"
    assert prod["data"]["TONGBAN_ENV"] == "production" and prod["data"]["JWT_JWKS_URL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_approval_runs_one_deployment_per_locality_group_covering_every_locality(
    overlay: str,
) -> None:
    served: list[str] = []
    groups: set[str] = set()
    for deployment in of_kind(overlay, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        if container["args"][:2] != ["serve", "approval"]:
            continue
        env = {v["name"]: v.get("value") for v in container["env"]}
        served += env["APPROVAL_LOCALITIES"].split(",")
        assert env["APPROVAL_CONSUMER_GROUP"].startswith("tongban.approval")
        groups.add(env["APPROVAL_CONSUMER_GROUP"])
    assert sorted(served) == locality_codes(), "each locality served exactly once"
    assert len(groups) == len(approval_groups()) > 1


def test_strimzi_topics_and_users_are_the_acl_table() -> None:
    table = tongban_acl_table()
    topics = {t["spec"]["topicName"]: t for t in of_kind("prod", "KafkaTopic")}
    assert sorted(topics) == sorted(table.topics)
    assert topics[ROUTING_RULES]["spec"]["config"]["cleanup.policy"] == "compact"
    development_topics = of_kind("dev", "KafkaTopic")
    assert development_topics
    assert all(t["spec"]["replicas"] == 1 for t in development_topics)
    users = {u["metadata"]["name"]: u for u in of_kind("prod", "KafkaUser")}
    assert sorted(users) == sorted([ADMIN_PRINCIPAL, *table.principals])
    assert "authorization" not in users.pop(ADMIN_PRINCIPAL)["spec"], "a super user"
    for principal, user in users.items():
        acls = user["spec"]["authorization"]["acls"]
        assert len(acls) == len(table.of(principal)), principal
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    locality = users["approval-340100"]["spec"]["authorization"]["acls"]
    assert {(a["resource"]["type"], a["resource"]["name"]) for a in locality} == {
        ("topic", "tongban.approval.requests.340100"),
        ("group", "approval-340100."),
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_audit_watcher_runs_as_its_own_principal_holding_no_private_key(overlay: str) -> None:
    (deployment,) = [
        d for d in of_kind(overlay, "Deployment") if d["metadata"]["name"] == "audit-watch"
    ]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["audit", "watch"]
    env = {v["name"]: v for v in container["env"]}
    assert env["KAFKA_USERNAME"]["value"] == AUDIT_WATCH_PRINCIPAL
    password = env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": AUDIT_WATCH_PRINCIPAL, "key": "password"}  # its KafkaUser's
    database = env["AUDIT_WATCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert database == {"name": "tongban-database", "key": "audit-watch-url"}
    # No key ring, no secret of any service: only the public trust list, read-only.
    assert not any("KEY_RING_SECRET" in n or "PII" in n or "ROUTING" in n for n in env)
    assert key_files(pod) == set()
    assert not any("secret" in v or "projected" in v for v in pod["volumes"])
    trust = [v for v in pod["volumes"] if "configMap" in v]
    assert [v["configMap"]["name"] for v in trust] == ["tongban-trust"]
    assert "ports" not in container

    # Its KafkaUser reads the checkpoints topic and nothing else.
    (user,) = [
        u for u in of_kind(overlay, "KafkaUser") if u["metadata"]["name"] == AUDIT_WATCH_PRINCIPAL
    ]
    acls = user["spec"]["authorization"]["acls"]
    assert [(a["resource"], a["operations"]) for a in acls] == [
        ({"type": "topic", "name": AUDIT_CHECKPOINTS, "patternType": "literal"}, ["Read"])
    ]

    # Its network: DNS, PostgreSQL and Kafka out; nothing in.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selecting = [p for p in of_kind(overlay, "NetworkPolicy") if selects(p, labels)]
    assert {p["metadata"]["name"] for p in selecting} == {
        "default-deny",
        "allow-dns",
        "allow-egress-audit-watch",
    }
    (own,) = [p for p in selecting if p["metadata"]["name"] == "allow-egress-audit-watch"]
    assert own["spec"]["policyTypes"] == ["Egress"]
    ports = {port["port"] for rule in own["spec"]["egress"] for port in rule["ports"]}
    assert ports == {5432, 9092, 9093}
    (kafka,) = [
        p
        for p in of_kind(overlay, "NetworkPolicy")
        if p["metadata"]["name"] == "allow-kafka-cluster"
    ]
    clients = kafka["spec"]["ingress"][1]["from"][0]["podSelector"]["matchExpressions"][0]
    assert AUDIT_WATCH_NAME in clients["values"]


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicy's podSelector takes pods with `labels`."""
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_the_build_command_prefers_kubectl_then_kustomize_then_the_cached_one(
    tmp_path: Path,
) -> None:
    found = {"kubectl": "/usr/bin/kubectl", "kustomize": "/usr/local/bin/kustomize"}
    absent = tmp_path / "kustomize"
    assert build_command(found.get, absent) == ["/usr/bin/kubectl", "kustomize"]
    del found["kubectl"]
    assert build_command(found.get, absent) == ["/usr/local/bin/kustomize", "build"]
    assert build_command(lambda _: None, absent) is None
    absent.write_text("#!/bin/sh\n")
    absent.chmod(0o755)
    assert build_command(lambda _: None, absent) == [str(absent), "build"]


def test_rendering_is_deterministic() -> None:
    assert render_manifests() == render_manifests()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_portal_runs_as_its_own_principal_with_the_trust_list_and_no_key(
    overlay: str,
) -> None:
    (deployment,) = [d for d in of_kind(overlay, "Deployment") if d["metadata"]["name"] == "portal"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["serve", "portal"]
    env = {v["name"]: v for v in container["env"]}
    # Its own KafkaUser's password: the facts it texts applicants about, and nothing else.
    assert env["KAFKA_USERNAME"]["value"] == PORTAL_NAME
    assert env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "portal",
        "key": "password",
    }
    assert PORTAL_NAME in {u["metadata"]["name"] for u in of_kind(overlay, "KafkaUser")}
    secrets = ("PORTAL_SECRET", "PORTAL_SERVICE_TOKEN", "KEY_RING_SECRET", "PII_DIGEST_KEY")
    for secret in (*secrets, "SMS_REPORT_SECRET"):
        assert "secretKeyRef" in env[secret]["valueFrom"], secret
    assert env["INTAKE_URL"]["value"].startswith("http://intake:")
    assert env["DELIVERY_URL"]["value"].startswith("http://delivery:")
    # The registry of residents (personal data) from a Secret, read-only; no key ring.
    assert env["PORTAL_RESIDENTS_FILE"]["value"].startswith(RESIDENTS_MOUNT)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[RESIDENTS_MOUNT]["readOnly"] is True
    assert key_files(pod) == set() and mounted_key_ring(pod) is None
    assert any(s["metadata"]["name"] == "portal" for s in of_kind(overlay, "Service"))

    # Phones come in through the ingress controller; it reaches intake and delivery, which let
    # it in; Kafka lets it in.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    policies = {p["metadata"]["name"]: p for p in of_kind(overlay, "NetworkPolicy")}
    selecting = {name for name, p in policies.items() if selects(p, labels)}
    assert {"allow-ingress-portal", "allow-egress-portal", "allow-egress-backends"} <= selecting
    assert "allow-ingress-windows" not in selecting
    for service in ("intake", "delivery"):
        assert selects(
            policies["allow-ingress-from-portal"], {"app.kubernetes.io/component": service}
        )
    clients = policies["allow-kafka-cluster"]["spec"]["ingress"][1]["from"][0]["podSelector"]
    assert PORTAL_NAME in clients["matchExpressions"][0]["values"]


def test_the_sms_gateway_simulator_runs_in_development_clusters_only() -> None:
    assert not [
        d for d in of_kind("prod", "Deployment") if d["metadata"]["name"] == SMS_GATEWAY_NAME
    ]
    (prod,) = of_kind("prod", "ConfigMap")
    assert prod["data"]["SMS_GATEWAY_URL"].startswith("https://")  # the province's platform
    (deployment,) = [
        d for d in of_kind("dev", "Deployment") if d["metadata"]["name"] == SMS_GATEWAY_NAME
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "tooling.sms_gateway"]
    args = container["args"]
    port = args[args.index("--port") + 1]
    (dev,) = of_kind("dev", "ConfigMap")
    assert dev["data"]["SMS_GATEWAY_URL"] == f"http://{SMS_GATEWAY_NAME}:{port}"
    # Its reports go to the portal's route, signed with the portal's SMS_REPORT_SECRET.
    assert args[args.index("--report-url") + 1] == f"http://{PORTAL_NAME}:8007/v1/sms/reports"
    env = {v["name"]: v for v in container["env"]}
    assert env["SMS_REPORT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "tongban-secrets"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selecting = {
        p["metadata"]["name"] for p in of_kind("dev", "NetworkPolicy") if selects(p, labels)
    }
    assert selecting == {
        "default-deny",
        "allow-dns",
        "allow-sms-gateway-from-portal",
        "allow-egress-sms-gateway-reports",
    }
