"""The channel table decides where every event is published (Outbox.add takes no topic)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.messaging import channels, events, topics
from shared.messaging.channels import CHANNELS, Channel, NoTopic, channel_carrying, topic_of
from shared.messaging.outbox import Outbox


class RecordingSession:
    """Stands in for a session: records what would have been written."""

    def __init__(self) -> None:
        self.executed: list[Any] = []

    async def execute(self, *statement: Any) -> None:
        self.executed.append(statement)


class Unannounced(events.ApplicationEvent):
    """An event type no channel declares."""

    event_type: ClassVar[str] = "gov.tongban.test.unannounced.v1"


def routed(**fields: Any) -> events.ApplicationRouted:
    # Only the fields the lookup reads; the rest of an application does not matter here.
    values: dict[str, Any] = {"application_no": "TB1", **fields}
    return events.ApplicationRouted.model_construct(**values)


def test_each_event_goes_to_the_topic_of_its_one_channel() -> None:
    opened = events.CaseOpened(
        application_no="TB1", locality="340100", deadline=date.today(), opened_at=datetime.now(UTC)
    )
    assert topic_of(opened) == topics.APPROVAL_EVENTS
    assert channel_carrying(events.Routed.event_type).address == topics.ROUTING_EVENTS
    assert channel_carrying(events.LedgerCheckpoint.event_type).address == (
        topics.AUDIT_CHECKPOINTS
    )


def test_an_application_for_a_locality_goes_to_that_localitys_topic_only() -> None:
    assert topic_of(routed(competent_locality="340100")) == "tongban.approval.requests.340100"
    assert topic_of(routed(competent_locality="341100")) == topics.approval_requests("341100")
    values: dict[str, Any] = {"application_no": "TB1", "competent_locality": "340200"}
    supplement = events.SupplementRouted.model_construct(**values)
    assert topic_of(supplement) == topics.approval_requests("340200")


@pytest.mark.parametrize("locality", [None, "", "340100.x", "../340100"])
def test_a_per_locality_event_without_a_usable_locality_has_no_topic(
    locality: str | None,
) -> None:
    with pytest.raises(NoTopic, match="competent_locality"):
        topic_of(routed(competent_locality=locality))


def test_every_event_type_travels_on_exactly_one_channel_and_per_locality_ones_name_it() -> None:
    for channel in CHANNELS:
        for model in channel.events:
            assert channel_carrying(model.event_type) is channel
            if channel.per_locality:
                assert channel.locality_field in model.model_fields, (model, channel.id)


def test_a_table_declaring_one_event_type_on_two_channels_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    twice = Channel("again", "tongban.test.again", "intake", (events.CaseOpened,), "A copy.")
    monkeypatch.setattr(channels, "CHANNELS", (*CHANNELS, twice))
    with pytest.raises(ValueError, match="approvalEvents and again"):
        channels._channels_by_event_type()


def test_add_refuses_an_event_the_table_cannot_place_before_writing_anything() -> None:
    session = RecordingSession()
    outbox = Outbox("/tests")

    async def add(payload: events.EventPayload) -> None:
        await outbox.add(cast(AsyncSession, session), payload)

    with pytest.raises(NoTopic, match=r"no channel carries gov\.tongban\.test\.unannounced\.v1"):
        asyncio.run(add(Unannounced(application_no="TB1")))
    with pytest.raises(NoTopic):
        asyncio.run(add(routed(competent_locality=None)))
    assert session.executed == []
    assert not outbox.committed.is_set()

    _, row = outbox.row_for(routed(competent_locality="340100"))
    assert row["topic"] == topics.approval_requests("340100")


def test_a_per_locality_topic_and_its_dead_letters_get_the_locality_partitions() -> None:
    from shared.messaging.kafka import topic_partitions

    requests = topics.approval_requests("340104")
    assert topic_partitions(requests, 3, 1) == 1
    assert topic_partitions(topics.dead_letter(requests), 3, 1) == 1
    # Province-wide topics, their dead letters and topics outside the table keep the rest.
    assert topic_partitions("tongban.intake.events", 3, 1) == 3
    assert topic_partitions(topics.dead_letter("tongban.intake.events"), 3, 1) == 3
    assert topic_partitions("tongban.test.somewhere", 3, 1) == 3
