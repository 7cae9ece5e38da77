"""What a consumer group reads, and which handler takes each event type.

Declared by each service (its consumers module) and checked against the channel table
(shared.messaging.channels) when declared; the consumer runner (shared.messaging.consumer) runs
them. It sits above the runner, whose `Handler` type it uses, so the channel table stays a plain
declaration that the Kafka, signing and outbox modules can read without importing the runner.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from shared.messaging.channels import channel_of
from shared.messaging.consumer import Handler
from shared.messaging.events import EventPayload


class EveryType(Mapping[str, Handler]):
    """A handler table that answers every event type: `listed` types with their own handler,
    any other with `handler`. Iterating it lists only the listed types. For a subscription that
    keeps a record of everything it reads (routing's audit ledger), not for ordinary ones."""

    def __init__(self, handler: Handler, listed: Mapping[str, Handler]) -> None:
        self.handler = handler
        self.listed = dict(listed)

    def __getitem__(self, event_type: str) -> Handler:
        return self.listed.get(event_type, self.handler)

    def __iter__(self) -> Iterator[str]:
        return iter(self.listed)

    def __len__(self) -> int:
        return len(self.listed)


@dataclass(frozen=True)
class Subscription:
    """What one consumer group reads: its topics, and one handler per event class.

    Types that are not listed are acknowledged and skipped (another service's fact, or a newer
    version we do not read yet), unless `every_type` is given: then it handles them all (the
    consumer runner still refuses, and dead-letters, a type no model in shared.messaging.events
    describes).
    """

    name: str
    topics: tuple[str, ...]
    handlers: Mapping[type[EventPayload], Handler]
    group_id: str | None = None
    every_type: Handler | None = None
    by_type: Mapping[str, Handler] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        carried = {model for topic in self.topics for model in channel_of(topic).events}
        unpublished = [model.__name__ for model in self.handlers if model not in carried]
        if unpublished:
            raise ValueError(
                f"{self.name} handles {', '.join(unpublished)}, which no channel it reads carries"
            )
        by_type = {model.event_type: handler for model, handler in self.handlers.items()}
        if self.every_type is not None:
            object.__setattr__(self, "by_type", EveryType(self.every_type, by_type))
        else:
            object.__setattr__(self, "by_type", by_type)
