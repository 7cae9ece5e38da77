"""How tests, the local stack and operators reach the simulator: its control API over HTTP, and
the argv that runs it in a process of its own."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.sms import ReportStatus
from tooling.infra import ManagedProcess


@dataclass
class SmsGatewayControl:
    """The control API over HTTP."""

    base_url: str

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)

    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        async with self._client() as http:
            response = await http.request(method, path, json=body, params=params)
            response.raise_for_status()
            return response.json()

    async def messages(
        self, *, to: str | None = None, reference: str | None = None
    ) -> list[dict[str, Any]]:
        """The messages sent (each reference once), oldest first; those to `to`, of `reference`."""
        params = {name: value for name, value in (("to", to), ("reference", reference)) if value}
        found: list[dict[str, Any]] = await self._send("GET", "/control/messages", params=params)
        return found

    async def fail(self, count: int) -> None:
        """The next `count` sends answer 503 and send nothing."""
        await self._send("POST", "/control/fail", {"count": count})

    async def slow(self, count: int, seconds: float) -> None:
        """The next `count` sends are sent, but answered only after `seconds` (a sender that
        stopped waiting earlier lost the answer)."""
        await self._send("POST", "/control/slow", {"count": count, "seconds": seconds})

    async def set_reports(
        self,
        url: str | None = None,
        *,
        outcome: ReportStatus | None = None,
        delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Where delivery reports go ("": nowhere), what they say, how long after the send."""
        body = {
            name: value
            for name, value in (
                ("url", url),
                ("outcome", outcome),
                ("delay_seconds", delay_seconds),
            )
            if value is not None
        }
        state: dict[str, Any] = await self._send("PUT", "/control/reports", body)
        return state

    async def reset(self) -> None:
        """Forget the messages and every order (the report URL stays)."""
        await self._send("POST", "/control/reset")

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self._send("GET", "/control/state")
        return state

    def ready_now(self) -> bool:
        """`ready`, from sync code (fixtures, launchers)."""
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    async def ready(self) -> bool:
        try:
            async with self._client() as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False


def gateway_command(port: int, report_url: str | None = None) -> list[str]:
    """The argv that runs the simulator in a process of its own."""
    argv = [sys.executable, "-m", "tooling.sms_gateway", "--port", str(port)]
    if report_url:
        argv += ["--report-url", report_url]
    return argv


def gateway_process(
    port: int, report_url: str | None, *, env: dict[str, str], log_dir: Path, cwd: Path
) -> ManagedProcess:
    """The simulator as the launcher and the tests run it: a process of its own, logging to
    `log_dir`/sms.log, stopped with SIGTERM."""
    return ManagedProcess(
        "SMS gateway simulator",
        gateway_command(port, report_url),
        log_path=log_dir / "sms.log",
        pid_file=log_dir / "sms.pid",
        cwd=cwd,
        env=env,
        stop_signal=signal.SIGTERM,
    )
