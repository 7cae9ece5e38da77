"""`make run`'s 跨省通办 pieces without processes: the trust the launcher imports for two
provinces (and takes away again, leaving an operator's), Jiangsu's environment and ACLs."""

from __future__ import annotations

from pathlib import Path

from shared.federation.anchors import TrustedPartners, read_anchor
from shared.settings import Settings
from tooling.federation_pki import GatewayFiles
from tooling.federation_run import IMPORTED, Gateway, forget_imported, gateway, trust_each_other
from tooling.second_province import SecondProvince, second_province_acl_table


def _gateway(tmp_path: Path, province: str, port: int) -> Gateway:
    tls = GatewayFiles(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    return gateway(
        province,
        port=port,
        env={"PATH": "/usr/bin"},
        database_url="postgresql+asyncpg://tongban@127.0.0.1:5432/x",
        key_ring_dir=tmp_path / province / "keys",
        trust_dir=tmp_path / province / "trusted",
        tls=tls,
        log_dir=tmp_path,
        title=f"gateway {province}",
    )


def test_two_gateways_trust_each_other_and_only_that_trust_is_taken_away(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, tongban_env="development")
    anhui, jiangsu = _gateway(tmp_path, "34", 8010), _gateway(tmp_path, "32", 8110)
    trust_each_other([anhui, jiangsu], settings)

    partner = TrustedPartners(anhui.trust_dir).get("32")
    assert partner is not None and partner.gateway_url == "https://127.0.0.1:8110"
    assert partner.name == "江苏省"
    ours = read_anchor(jiangsu.trust_dir / "34.json")
    ours.check_signature()
    assert ours.gateway_url == "https://127.0.0.1:8010"
    # An operator's own import (another province's anchor) is not the launcher's to remove.
    (anhui.trust_dir / "11.json").write_text((jiangsu.trust_dir / "34.json").read_text())
    forget_imported(anhui.trust_dir)
    forget_imported(jiangsu.trust_dir)
    assert sorted(p.name for p in anhui.trust_dir.iterdir()) == ["11.json"]
    assert list(jiangsu.trust_dir.iterdir()) == []
    assert not (anhui.trust_dir.parent / IMPORTED).exists()
    forget_imported(anhui.trust_dir)  # nothing noted: nothing happens


def test_a_gateway_runs_as_its_province_over_mutual_tls(tmp_path: Path) -> None:
    jiangsu = _gateway(tmp_path, "32", 8110)
    env = jiangsu.process.env or {}
    assert jiangsu.url == "https://127.0.0.1:8110"
    assert env["TONGBAN_PROVINCE"] == "320000" and env["FEDERATION_PORT"] == "8110"
    assert {"FEDERATION_TLS_CERT", "FEDERATION_TLS_KEY", "FEDERATION_TLS_CA"} <= set(env)
    assert env["FEDERATION_KAFKA"] == "true"


def test_jiangsu_inherits_nothing_of_anhuis_stack(tmp_path: Path) -> None:
    jiangsu = SecondProvince(tmp_path, "postgresql+asyncpg://tongban@127.0.0.1:5432/postgres")
    anhui = {
        "PATH": "/usr/bin",
        "PROVINCE": "340000",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "KAFKA_USERNAME": "intake",
        "INTAKE_DATABASE_URL": "postgresql+asyncpg://tongban@127.0.0.1:5432/tongban_intake",
        "SUPERVISOR_STATE_FILE": "/x",
        "TONGBAN_STACK_FILE": "/anhui.json",
    }
    env = jiangsu.env(anhui)
    assert env["TONGBAN_PROVINCE"] == "320000" and "PROVINCE" not in env
    assert not any(name.startswith("KAFKA_") for name in env)
    assert env["INTAKE_DATABASE_URL"].endswith("/tongban_js_intake")
    assert env["FEDERATION_DATABASE_URL"].endswith("/tongban_js_federation")
    assert env["TONGBAN_STACK_FILE"] == str(tmp_path / "stack.json")
    assert env["KEY_RING_DIR"] == str(tmp_path / "keys")
    assert "SUPERVISOR_STATE_FILE" not in env


def test_jiangsus_broker_grants_jiangsus_localities() -> None:
    principals = second_province_acl_table().principals
    assert any("320100" in principal for principal in principals), principals
    assert not any("341200" in principal for principal in principals)
