"""`make soak`'s verdict (benchmarks/soak_report.py): memory counts from the end of the warm-up,
the messaging rows count as pruned only once they level off, latency is cut into windows; and
`make registry-scale`'s load asks for numbers the generator made."""

from __future__ import annotations

import hashlib

from benchmarks.registry_data import LOCALITIES, YEARS, code_of, number_of
from benchmarks.soak_report import growths, intervals, pruned
from benchmarks.soak_samples import Memory, Sample


def sample(at: float, mb: float, rows: int = 0) -> Sample:
    return Sample(
        at, {"intake": Memory(rss_mb=mb, tree_mb=mb)}, {"outbox_sent": rows, "inbox": rows}
    )


def test_memory_growing_only_during_the_warm_up_is_flat() -> None:
    samples = [sample(t, 50 + t) for t in range(0, 60, 10)]  # 50 → 100 MB in the first minute
    samples += [sample(t, 100 + (t % 20) / 10) for t in range(60, 1800, 10)]  # then ±2 %
    (intake,) = growths(samples, warm_up=60)
    assert intake.first_mb == 50
    assert abs(intake.start_mb - 100) < 2
    assert intake.flat


def test_memory_growing_after_the_warm_up_is_not_flat() -> None:
    samples = [sample(t, 100 + t / 60) for t in range(0, 1800, 10)]  # +1 MB a minute
    (intake,) = growths(samples, warm_up=300)
    assert intake.growth > 0.2
    assert not intake.flat


def test_rows_levelling_off_are_pruned_and_rows_that_keep_growing_are_not() -> None:
    level = [sample(t, 100, min(t, 180) * 10) for t in range(0, 1800, 10)]
    assert pruned(level, retention=180)[0] is True
    growing = [sample(t, 100, t * 10) for t in range(0, 1800, 10)]
    assert pruned(growing, retention=180)[0] is False
    short = [sample(t, 100, t) for t in range(0, 300, 10)]
    assert pruned(short, retention=180)[0] is None


def test_latency_is_cut_into_windows_of_the_posting_time() -> None:
    answers = [(float(t), 0.1) for t in range(300)] + [(float(t), 0.5) for t in range(300, 600)]
    opened = [(float(t), 1.0) for t in range(600)]
    first, second = intervals(answers, opened, width=300)
    assert (first.posted, first.answer_p99, second.answer_p50) == (300, 100, 500)
    assert first.opened_p50 == 1000


def test_generated_numbers_are_distinct_and_shaped_as_approval_numbers_them() -> None:
    rows = len(LOCALITIES) * YEARS * 3
    numbers = {number_of(i) for i in range(rows)}
    assert len(numbers) == rows
    assert number_of(0) == f"ZZ{LOCALITIES[0]}20150000001"  # services/approval/domain.py
    assert len(hashlib.sha256(code_of(7).encode()).hexdigest()) == 64
