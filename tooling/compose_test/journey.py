"""The reference journey (tooling/journey.py) against the containers' published ports: a 阜阳
window accepts a 合肥 resident's application, 合肥 approves it, the certificate is printed and
verified, and it is handed over at the window. Tokens come from inside the intake container
(`tongban token`, the development issuer of its key ring), as a user of the compose file gets
them (README, "Run with Docker Compose"). Then the federation gateway, as its operator finds
it in a fresh stack: no partner province trusted, and this province's anchor exported signed
with the gateway's own `federation` key."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from shared.settings import Settings
from tooling.compose_test.engine import run
from tooling.demo import print_certificate, verify_certificate
from tooling.journey import (
    Journey,
    household_application,
    poll_until,
    sample_applicant,
    sample_pdf,
)
from tooling.seed import seed_demo_agreements

PUBLISHED = {
    "intake": "http://127.0.0.1:8001",
    "routing": "http://127.0.0.1:8002",
    "approval": "http://127.0.0.1:8003",
    "delivery": "http://127.0.0.1:8004",
}


@dataclass
class ContainerJourney(Journey):
    """The journey with tokens minted inside the intake container."""

    compose: Sequence[str] = ()
    _tokens: dict[tuple[str, str, str | None], str] = field(default_factory=dict)

    def token(self, role: str, locality: str, window_id: str | None = None) -> str:
        key = (role, locality, window_id)
        if key not in self._tokens:
            command = [*self.compose, "exec", "-T", "intake", "tongban", "token"]
            command += ["--role", role, "--locality", locality]
            if window_id:
                command += ["--window-id", window_id]
            self._tokens[key] = run(command, timeout=120).stdout.strip().splitlines()[-1]
        return self._tokens[key]

    @property
    def clerk_token(self) -> str:
        return self.token("window_clerk", self.receiving_locality, self.window_id)

    def approver_token(self, locality: str) -> str:
        return self.token("approver", locality)


async def window_to_hand_over(compose: Sequence[str]) -> dict[str, str]:
    """Run the journey; what it reached (application, certificate, verification, final status)."""
    trip = ContainerJourney(Settings(), PUBLISHED, timeout=120.0, compose=compose)
    # A fresh stack has no trust agreement: the demo's, granted through routing's API by each
    # grantor's administrator (tooling/seed.py), which intake learns from routing's rules topic.
    await seed_demo_agreements(PUBLISHED["routing"], trip.settings, token=trip.token)
    applicant = sample_applicant("340104")
    scan = await trip.upload_scan(sample_pdf("Resident identity card, compose test"), "id.pdf")
    body = household_application(applicant)
    body["materials"][0]["sha256"] = scan["sha256"]

    async def accepted() -> httpx.Response | None:
        response = await trip.submit(body)
        if response.status_code == 403 and "no_accept_right" in response.text:
            return None  # intake has not read the agreement yet
        if response.status_code != 201:
            raise RuntimeError(f"intake answered {response.status_code}: {response.text}")
        return response

    started = time.monotonic()
    response = await poll_until(accepted, within=60, failure="intake never read the agreements")
    accepted_after = time.monotonic() - started
    receipt = response.json()
    number, competent = receipt["application_no"], receipt["competent_locality"]
    decided = await trip.approve(number, competent)
    job = await trip.wait_in_print_queue(number)
    _pdf, _ordinal, url = await print_certificate(trip, job["certificate_no"])
    verified = await verify_certificate(trip, url)
    handed = await trip.hand_over(number, applicant["id_number"])
    if handed.status_code != 200:
        raise RuntimeError(f"hand-over answered {handed.status_code}: {handed.text}")
    final = await trip.wait_for_status(number, "delivered")
    gateway = federation_gateway(compose)
    return {
        "accepted after": f"{accepted_after:.1f} s (intake reading the agreements granted)",
        "accepted to delivered": f"{time.monotonic() - started - accepted_after:.1f} s",
        "application": number,
        "competent locality": competent,
        "certificate": decided["certificate_no"],
        "verification": "valid" if verified["valid"] else str(verified.get("reason")),
        "status": final["status"],
        "timeline": " → ".join(entry["status"] for entry in final["timeline"]),
        "federation gateway": gateway,
    }


def federation_gateway(compose: Sequence[str]) -> str:
    """`tongban federation trust list` and `anchor export` inside the gateway's container."""
    tongban = [*compose, "exec", "-T", "-e", "TONGBAN_LANG=en", "federation", "tongban"]
    partners = run([*tongban, "federation", "trust", "list"], timeout=120).stdout
    if "No partner province is trusted" not in partners:
        raise RuntimeError(f"a fresh stack's gateway trusts a partner already: {partners}")
    exported = run(
        [*tongban, "federation", "anchor", "export", "/tmp/anchor-34.json"], timeout=120
    ).stdout
    fingerprint = " ".join(exported.split()).partition("Fingerprint (SM3): ")[2]
    if not fingerprint:
        raise RuntimeError(f"the gateway exported no anchor: {exported}")
    return f"no partner trusted; its anchor exported, fingerprint {fingerprint[:19]}…"
