"""A federation gateway as a process of its own, for the integration tests (its own database,
key ring, trust folder and TLS certificate; `tongban federation` run as its operator would)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from shared.crypto.keyring import KeyRing, SoftwareSigner
from shared.db import Database
from shared.federation.anchors import FEDERATION_KEY
from shared.settings import DEVELOPMENT_KEY_RING_SECRET
from tooling.federation_pki import GatewayFiles
from tooling.local_state import STATE_FILE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
PROVINCE_NAMES = {"34": "安徽省", "32": "江苏省"}


@dataclass
class GatewayProcess:
    province: str
    port: int
    database_url: str
    work: Path
    tls: GatewayFiles
    process: subprocess.Popen[bytes] | None = None
    # More environment (a broker's credentials, FEDERATION_KAFKA=true...), over the defaults.
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.work / "gateway.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "PYTHONPATH": str(REPO_ROOT),
            "TONGBAN_ENV": "development",
            "TONGBAN_LANG": "en",
            STATE_FILE_VARIABLE: str(self.work / "no-stack.json"),
            "KEY_RING_DIR": str(self.work / "keys"),
            "TONGBAN_PROVINCE": f"{self.province}0000",
            "FEDERATION_PROVINCE_NAME": PROVINCE_NAMES[self.province],
            "FEDERATION_GATEWAY_URL": self.url,
            "FEDERATION_TRUST_DIR": str(self.work / "trusted"),
            "FEDERATION_DATABASE_URL": self.database_url,
            "FEDERATION_TLS_CERT": str(self.tls.cert),
            "FEDERATION_TLS_KEY": str(self.tls.key),
            "FEDERATION_TLS_CA": str(self.tls.ca),
            "FEDERATION_PORT": str(self.port),
            "FEDERATION_POLL_SECONDS": "0.2",
            "FEDERATION_RETRY_BASE_SECONDS": "0.2",
            "FEDERATION_RETRY_MAX_SECONDS": "1",
            "FEDERATION_SEND_TIMEOUT_SECONDS": "2",
            # A gateway alone (no broker) unless extra_env says otherwise.
            "FEDERATION_KAFKA": "false",
        } | self.extra_env

    def tongban(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tooling.cli", "federation", *arguments],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.federation"],
                cwd=self.work,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60  # a loaded machine takes its time to import
        with self.client() as client:
            while True:
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.process.poll() is None, self.log()
                assert time.monotonic() < deadline, f"gateway {self.province}: {self.log()}"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def client(self) -> httpx.Client:
        """A client presenting this gateway's certificate (as this gateway calls partners)."""
        return httpx.Client(verify=self._context(), timeout=5)

    def _context(self) -> Any:
        from services.federation.tls import TlsFiles

        return TlsFiles(str(self.tls.cert), str(self.tls.key), str(self.tls.ca)).client_context()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signer(self) -> SoftwareSigner:
        ring = KeyRing(self.work / "keys", DEVELOPMENT_KEY_RING_SECRET, development=True)
        return ring.signer(FEDERATION_KEY)


async def count(database_url: str, model: Any, **where: Any) -> int:
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            query = select(func.count()).select_from(model).filter_by(**where)
            return int(await session.scalar(query) or 0)
    finally:
        await db.dispose()


async def wait_for(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time given"
        await asyncio.sleep(0.1)
