"""The README's "Use it" block, run as written (bash, curl, `tongban`) against the test stack,
so the README cannot drift from the code: every command in it must run and succeed, in order,
from the token to the audit ledger's verification.

The block reads the services' addresses from INTAKE ... DELIVERY (defaulting to `make run`'s
ports) and `tongban token` signs with the key ring of KEY_RING_DIR: the test sets both to its
stack's. It runs under `set -euo pipefail`, and the block's `curl -sf` fails on any HTTP error,
so one failing command fails the test. `curl` and `tongban` are wrapped to record where in
the block each ran, which proves that every one of them was exercised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import sys
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.delivery.ratelimit import VerificationLimiter
from tests.harness import Stack

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- readme-test: use-it -->"
# A command of the block a reader runs against Tongban: curl or tongban, in code, not comments.
COMMAND = re.compile(r"(?:^|[\s$(])(curl|tongban)\s")

# Around the block: stop at the first failure, and record each curl and tongban with the line
# of the block it was written on (a call made through `eventually` counts for the line that
# called `eventually`), before running it; then keep the answers the block found (the
# application, its certificate and the certificate's verification code).
HARNESS = """\
set -euo pipefail
site() {
  local i=1
  while [[ ${FUNCNAME[i+1]:-} == eventually ]]; do i=$((i + 1)); done
  echo "${BASH_LINENO[i]}"
}
curl() { echo "curl $(site)" >> "$README_TEST_LOG"; command curl "$@"; }
tongban() { echo "tongban $(site)" >> "$README_TEST_LOG"; command tongban "$@"; }
source ./use-it.sh
printf '%s\\n' "$APP" "$CERT" "$CODE" > "$README_TEST_ANSWERS"
"""


def use_it_block() -> str:
    """The bash block right after the marker in README.md."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in readme, f"README.md has lost its marker {MARKER}"
    after = readme.split(MARKER, 1)[1].lstrip("\n")
    assert after.startswith("```bash\n"), "the marker must stand right before a ```bash block"
    return after.removeprefix("```bash\n").split("\n```", 1)[0] + "\n"


def command_lines(block: str) -> list[int]:
    """The lines (1-based) where a curl or tongban command of the block begins."""
    lines: list[int] = []
    for number, line in enumerate(block.splitlines(), start=1):
        code = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
        lines.extend(number for _ in COMMAND.finditer(code))
    return lines


def stack_environment(stack: Stack, work: Path) -> dict[str, str]:
    """What a reader's shell would hold, pointed at the test stack: its services' addresses,
    its key ring (so `tongban token` makes tokens it accepts), its broker and routing's
    database (for `tongban audit verify`)."""
    settings = stack.settings
    assert settings.kafka_password is not None
    urls = {name: service.base_url for name, service in stack.services.items()}
    return {
        **os.environ,
        # `tongban` is the virtualenv's, running this checkout's code.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO_ROOT),
        "INTAKE": urls["intake"],
        "ROUTING": urls["routing"],
        "APPROVAL": urls["approval"],  # the instance serving 合肥 (340100)
        "DELIVERY": urls["delivery"],
        "TONGBAN_ENV": "development",
        "KEY_RING_DIR": settings.key_ring_dir,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_USERNAME": settings.kafka_username or "",
        "KAFKA_PASSWORD": settings.kafka_password.get_secret_value(),
        "DATABASE_URL": settings.database_url,
        "ROUTING_DATABASE_URL": settings.service_database_url("routing"),
        "README_TEST_LOG": str(work / "commands.log"),
        "README_TEST_ANSWERS": str(work / "answers.txt"),
    }


async def run_block(stack: Stack, work: Path, block: str) -> tuple[int, str, str]:
    """Run the block in `work`, where docs/ is the repository's (the sample scans), as a
    reader would at the repository's root; its exit code, stdout and stderr."""
    (work / "docs").symlink_to(REPO_ROOT / "docs", target_is_directory=True)
    (work / "use-it.sh").write_text(block, encoding="utf-8")
    (work / "harness.sh").write_text(HARNESS, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        "bash",
        "harness.sh",
        cwd=work,
        env=stack_environment(stack, work),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@contextmanager
def own_verification_budget(stack: Stack) -> Iterator[None]:
    """Delivery's verification limit counted apart for this test: the suite's other
    verifications from this address within the minute must not refuse the README's one."""
    app = stack.services["delivery"].app
    previous = app.state.dependencies
    app.state.dependencies = dataclasses.replace(
        previous, verification_limiter=VerificationLimiter(60)
    )
    try:
        yield
    finally:
        app.state.dependencies = previous


def executed_sites(log: Path) -> list[tuple[str, int]]:
    """Each curl and tongban that ran, with the line of the block it was written on."""
    entries = [line.split() for line in log.read_text().splitlines()]
    return [(command, int(line)) for command, line in entries]


async def test_the_readme_use_it_block_runs_as_written(stack: Stack, tmp_path: Path) -> None:
    assert shutil.which("bash") and shutil.which("curl"), "the README's block needs bash and curl"
    block = use_it_block()
    written = command_lines(block)

    with own_verification_budget(stack):
        code, _, stderr = await run_block(stack, tmp_path, block)
        assert code == 0, f"the README's block failed (exit {code}):\n{stderr[-4000:]}"
        application_no, certificate_no, verification_code = (
            (tmp_path / "answers.txt").read_text().splitlines()
        )
        # The code the block read off the print verifies the certificate, and the block's
        # own verification was counted before this one.
        async with stack.client("delivery") as public:
            answer = await public.get(
                f"/v1/certificates/{certificate_no}/verify", params={"code": verification_code}
            )

    runs = executed_sites(tmp_path / "commands.log")
    # A command spanning lines reports one of them: it belongs to the last command begun there.
    exercised = {written[bisect_right(written, line) - 1] for _, line in runs}
    assert exercised == set(written), (
        f"commands on lines {sorted(set(written) - exercised)} of the block never ran"
    )
    assert len(written) >= 25, "the walkthrough lost commands"
    print(
        f"\nREADME 'Use it': {len(written)} commands exercised "
        f"({len(runs)} runs, polls included; {sum(c == 'tongban' for c, _ in runs)} of tongban)"
    )

    assert answer.status_code == 200
    assert (answer.json()["valid"], answer.json()["verifications"]) == (True, 2)
    assert (tmp_path / "cert.pdf").read_bytes().startswith(b"%PDF-")
    # The scan the approver downloaded is the sample the window uploaded, byte for byte.
    sample = (REPO_ROOT / "docs/samples/id-card.pdf").read_bytes()
    assert (tmp_path / "m01.pdf").read_bytes() == sample
    # The application went through the supplement to the hand-over, and was rated once.
    clerk = stack.token("window_clerk", "341200", window_id="W341200-03")
    async with stack.client("intake", clerk) as intake:
        application = (await intake.get(f"/v1/applications/{application_no}")).json()
        again = await intake.post(
            f"/v1/applications/{application_no}/evaluation", json={"score": 4}
        )
    assert application_no.startswith("TB341200") and application["status"] == "delivered"
    reached = {entry["status"] for entry in application["timeline"]}
    assert {"supplement_requested", "approved", "delivered"} <= reached, reached
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_evaluated"
