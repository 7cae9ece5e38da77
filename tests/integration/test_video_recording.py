"""视频会商 with two WebRTC peers in Python (aiortc): a 阜阳 window's clerk and a 合肥
reviewer join one consultation through the signalling endpoint, see each other's synthetic
video for a few seconds, and the clerk hangs up. The server recorded the call: the recording is
in the blob store, the competent locality's reviewer plays it back byte for byte, its SM3
digest, duration and parties are in the consultation's record and, as the event
gov.tongban.consultation.recorded.v1, in routing's audit ledger, beside every join and leave.

The ledger entry of the recording is written to test-artifacts/video/ledger-entry.json.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from services.consultation.db import RecordingRow
from shared.crypto.sm import sm3
from shared.messaging.outbox import open_payload
from tests.consultation import (
    DATABASE,
    WINDOW,
    clerk_token,
    connect,
    consultation,
    open_consultation,
    receive,
    reviewer_token,
)
from tests.harness import Stack
from tests.video_call import call
from tooling.journey import household_application, poll_until, sample_applicant

pytestmark = pytest.mark.integration
__all__ = ["consultation"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "video"
RECORDED = "gov.tongban.consultation.recorded.v1"
CALL_SECONDS = 4


async def test_two_peers_call_and_the_recording_is_in_the_ledger(
    stack: Stack, consultation: str
) -> None:
    # An application the window handed in, competent locality 合肥.
    journey = stack.journey(*WINDOW)
    applicant = sample_applicant("340104", sequence=int(uuid.uuid4().int % 900) + 100)
    submitted = await journey.submit(household_application(applicant))
    assert submitted.status_code == 201, submitted.text
    application_no = submitted.json()["application_no"]
    opened = await open_consultation(stack, application_no)
    assert opened["state"] == "requested"
    path = opened["signalling"]

    clerk = await connect(consultation, path, clerk_token(stack))
    welcome = await receive(clerk, "welcome")
    assert (welcome["side"], welcome["state"], welcome["peer_present"]) == (
        "clerk",
        "ringing",
        False,
    )
    reviewer = await connect(consultation, path, reviewer_token(stack))
    assert (await receive(reviewer, "welcome"))["state"] == "in_call"
    await receive(clerk, "peer-joined")

    started = time.monotonic()
    in_call = await call(clerk, reviewer)
    clerk_frames, reviewer_frames = in_call.clerk_frames, in_call.reviewer_frames
    await asyncio.sleep(CALL_SECONDS)
    assert clerk_frames.size == (640, 480) and reviewer_frames.size == (640, 480)
    await clerk.send(json.dumps({"type": "hangup"}))
    await clerk.wait_closed()
    await reviewer.wait_closed()
    assert reviewer.close_code == 1000
    call_seconds = time.monotonic() - started
    await in_call.close()

    # The competent locality's reviewer sees the recording and plays it back.
    async with stack.client("consultation", reviewer_token(stack)) as http:

        async def recorded() -> dict[str, Any] | None:
            shown = (await http.get(f"/v1/consultations/{opened['consultation_id']}")).json()
            return shown if shown.get("recording") else None

        shown = await poll_until(recorded, within=30, failure="no recording")
        playback = await http.get(f"/v1/consultations/{opened['consultation_id']}/recording")
    assert shown["state"] == "ended"
    recording = shown["recording"]
    assert playback.status_code == 200 and playback.headers["content-type"] == "video/webm"
    assert sm3(playback.content).hex() == recording["sm3"]
    assert recording["size_bytes"] == len(playback.content)
    assert CALL_SECONDS - 1 <= recording["duration_seconds"] <= call_seconds + 2
    with av.open(io.BytesIO(playback.content), mode="r") as media:
        titles = sorted(stream.metadata.get("title", "") for stream in media.streams.video)
        assert titles == ["clerk", "reviewer"]
        frames = {stream.metadata.get("title"): 0 for stream in media.streams.video}
        for packet in media.demux(*media.streams.video):
            for _frame in packet.decode():
                frames[packet.stream.metadata.get("title")] += 1
    assert all(count >= (CALL_SECONDS - 1) * 5 for count in frames.values()), frames

    # Routing's ledger chained the recording's event (and every join and leave).
    async with stack.client("routing", stack.token("operator", "340000")) as http:

        async def in_ledger() -> list[dict[str, Any]] | None:
            answer = await http.get(f"/v1/audit/applications/{application_no}")
            entries: list[dict[str, Any]] = answer.json()["entries"]
            return entries if any(e["event_type"] == RECORDED for e in entries) else None

        entries = await poll_until(in_ledger, within=30, failure="not in the ledger")
    types = [entry["event_type"].split(".")[-2] for entry in entries]
    assert types.count("joined") == 2 and types.count("left") == 2
    assert {"opened", "ended", "recorded"} <= set(types)
    entry = next(e for e in entries if e["event_type"] == RECORDED)
    payload = await _published(stack, entry["event_id"])
    assert payload["sm3"] == recording["sm3"]
    assert payload["duration_seconds"] == recording["duration_seconds"]
    assert [p["role"] for p in payload["parties"]] == ["window_clerk", "approver"]
    assert payload["parties"][0]["window_id"] == WINDOW[0]

    # The application's timeline has the consultation on it (intake read the event).
    async def on_timeline() -> list[str] | None:
        timeline = (await journey.application(application_no))["timeline"]
        notes = [entry["note"] for entry in timeline if "视频会商" in entry["note"]]
        return notes or None

    notes = await poll_until(on_timeline, within=30, failure="no consultation on the timeline")
    assert notes[0].startswith("与审批地视频会商")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "ledger-entry.json").write_text(
        json.dumps({"ledger_entry": entry, "event": payload}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    print(json.dumps({"ledger_entry": entry, "event": payload}, ensure_ascii=False, indent=2))

    # The chain holds with the recording's entry in it.
    async with stack.client("routing", stack.token("operator", "340000")) as http:
        verdict = (await http.get("/v1/audit/verify")).json()
    assert verdict["ok"] is True, verdict

    # Retention: past its day, the recording is removed; its digest stays on record.
    app = stack.services["consultation"].app
    async with app.state.runtime.db.transaction() as session:
        await session.execute(
            update(RecordingRow)
            .where(RecordingRow.consultation_id == opened["consultation_id"])
            .values(retained_until=date.today() - timedelta(days=1))
        )
    await app.state.recordings.prune()
    async with stack.client("consultation", reviewer_token(stack)) as http:
        gone = await http.get(f"/v1/consultations/{opened['consultation_id']}/recording")
        shown = (await http.get(f"/v1/consultations/{opened['consultation_id']}")).json()
    assert gone.status_code == 404
    assert shown["recording"]["removed"] is True and shown["recording"]["sm3"] == payload["sm3"]


async def _published(stack: Stack, event_id: str) -> dict[str, Any]:
    """The event as the consultation service published it (its outbox row)."""
    from shared.settings import with_database

    engine = create_async_engine(with_database(stack.settings.database_url, DATABASE))
    try:
        async with engine.connect() as connection:
            row = await connection.execute(
                text("SELECT payload FROM outbox WHERE event_id = :id"), {"id": event_id}
            )
            stored: dict[str, Any] = row.scalar_one()
    finally:
        await engine.dispose()
    runtime = stack.services["consultation"].app.state.runtime
    return open_payload(stored, event_id, runtime.personal)
