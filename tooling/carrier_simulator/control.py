"""How tests and the local stack reach the simulator: its control API over HTTP, the argv that
runs it in a process of its own, and delivery's webhook URL it reports to."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import httpx

from tooling.carrier_simulator.engine import Mode


@dataclass
class SimulatorControl:
    """The control API over HTTP, for tests and operators."""

    base_url: str

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._client() as http:
            response = await http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def set_mode(
        self,
        mode: Mode,
        *,
        slow_seconds: float | None = None,
        progress: bool | None = None,
        step_seconds: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode}
        for name, value in (
            ("slow_seconds", slow_seconds),
            ("progress", progress),
            ("step_seconds", step_seconds),
        ):
            if value is not None:
                body[name] = value
        result: dict[str, Any] = await self._send("PUT", "/control/mode", body)
        return result

    async def recover(self) -> None:
        await self._send("POST", "/control/recover")

    async def set_webhook(self, url: str, token: str | None = None) -> None:
        await self._send("PUT", "/control/webhook", {"url": url, "token": token})

    async def shipments(self, reference: str | None = None) -> list[dict[str, Any]]:
        params = f"?reference={reference}" if reference else ""
        found: list[dict[str, Any]] = (await self._send("GET", f"/control/shipments{params}"))[
            "shipments"
        ]
        return found

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


def simulator_command(port: int, webhook_url: str | None = None) -> list[str]:
    """The argv that runs the simulator in a process of its own."""
    argv = [sys.executable, "-m", "tooling.carrier_simulator", "--port", str(port)]
    if webhook_url:
        argv += ["--webhook-url", webhook_url]
    return argv


def webhook_url_of(delivery_url: str) -> str:
    return f"{delivery_url.rstrip('/')}/v1/carrier/events"
