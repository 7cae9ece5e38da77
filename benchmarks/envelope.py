"""CPU per event of the envelope's hot path, in this process alone (no broker, no database):
what the relay does per outbox row (sign, to_kafka) and what a consumer does per record
(from_kafka, verify, payload), the verification once with SM2 and once as the process's
known signatures answer it (the event was signed or checked here before).

    python -m benchmarks.envelope [--rounds 3000]

CPU time (time.process_time), so other processes on the machine change little; compare
figures of one machine. An application event of the journey's size (tests.factories.routed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shared.crypto.keyring import KeyRing
from shared.messaging import topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import EventSigner, EventVerifier, KnownSignatures, canonical_bytes
from tests import factories


def microseconds(work: Callable[[], object], rounds: int) -> float:
    work()  # caches warm, keys read
    start = time.process_time()
    for _ in range(rounds):
        work()
    return (time.process_time() - start) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="calls per figure")
    rounds = parser.parse_args().rounds

    ring = KeyRing(Path(tempfile.mkdtemp()) / "keys", "benchmark", development=True)
    topic = topics.approval_requests("340100")
    unsigned = Envelope.new(factories.routed(), source="/tongban/routing")
    signer = EventSigner(ring)
    signed = signer.sign(unsigned, topic)
    record = signed.to_kafka()
    known = EventVerifier(ring, KnownSignatures())
    every_time = EventVerifier(ring)

    def read(verifier: EventVerifier) -> Callable[[], object]:
        def work() -> object:
            envelope = Envelope.from_kafka(*record)
            verifier.verify(envelope, topic)
            return envelope.payload()

        return work

    sm2_rounds = max(rounds // 10, 1)
    figures = [
        ("canonical bytes (what is signed)", microseconds(lambda: canonical_bytes(signed), rounds)),
        (
            "sign (canonical bytes + SM2)",
            microseconds(lambda: signer.sign(unsigned, topic), sm2_rounds),
        ),
        ("to_kafka", microseconds(signed.to_kafka, rounds)),
        ("from_kafka", microseconds(lambda: Envelope.from_kafka(*record), rounds)),
        ("payload (validated)", microseconds(Envelope.from_kafka(*record).payload, rounds)),
        ("from_kafka + verify (known) + payload", microseconds(read(known), rounds)),
        ("from_kafka + verify (SM2) + payload", microseconds(read(every_time), sm2_rounds)),
    ]
    print(f"value {len(record[1])} bytes, {len(record[2])} headers; CPU µs per event")
    for name, figure in figures:
        print(f"  {name:40} {figure:8.1f}")


if __name__ == "__main__":
    main()
