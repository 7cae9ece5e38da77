"""The benchmark's arithmetic of the pipeline (window rates, the drain) and its targets' table:
what `make bench` reports as issue 18's figures must mean what the issue says."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from benchmarks.figures import Cycle, Figures, Round, Tally
from benchmarks.flame import FlameGraphs
from benchmarks.journey import arguments
from benchmarks.loadgen import LoadResult, Sample
from benchmarks.pipeline import best_window, pipeline_rates
from benchmarks.report import report
from benchmarks.targets import Goal, goal_table, issue_goals, paced_bound_ms


def steady(start: float, rate: float, seconds: float) -> list[float]:
    """Events at `rate` per second from `start` for `seconds`."""
    return [start + n / rate for n in range(round(rate * seconds))]


def test_best_window_is_the_busiest_ten_seconds_not_the_average() -> None:
    # 20 s at 50/s, then 10 s at 200/s: the average is 100/s, the best window 200/s.
    times = steady(0, 50, 20) + steady(20, 200, 10)
    rate, window = best_window(times)
    assert window == 10
    assert 199 <= rate <= 201


def test_a_burst_shorter_than_the_window_is_not_diluted_over_empty_time() -> None:
    rate, window = best_window(steady(100, 300, 4))  # 1,200 cases in 4 s
    assert window < 10
    assert 295 <= rate <= 305


def test_no_events_no_rate() -> None:
    assert best_window([]) == (0.0, 10.0)


def test_pipeline_slower_than_the_windows_leaves_a_backlog_that_then_drains() -> None:
    # Windows post 200/s for 10 s; cases open at 50/s meanwhile, then 100/s until all open.
    accepted = steady(0, 200, 10)
    during = steady(0.05, 50, 9.9)
    after = steady(10.0 + 1 / 100, 100, (2000 - len(during)) / 100)
    rates = pipeline_rates(accepted, during + after)
    assert 199 <= rates.posted_per_s <= 202
    assert 49 <= rates.opened_during_load_per_s <= 51
    assert rates.backlog_at_end == 2000 - len(during)
    assert rates.posted_faster
    assert 99 <= rates.drain_per_s <= 101
    assert 15 <= rates.drain_seconds <= 15.1
    assert rates.opened == rates.accepted == 2000


def test_a_pipeline_at_56_per_second_reads_56_in_every_measure_of_it() -> None:
    # Issue 18's figure of today: windows at 190/s, cases opening at 56/s throughout.
    accepted = steady(0, 190, 7300 / 190)
    opened = steady(0.5, 56, 7300 / 56)
    rates = pipeline_rates(accepted, opened)
    assert 55 <= rates.best_window_per_s <= 57
    assert 55 <= rates.opened_during_load_per_s <= 57
    assert rates.drain_seconds == max(opened) - max(accepted)
    assert 55 <= rates.drain_per_s <= 57


def test_a_paused_pipeline_drains_from_its_first_case_after_resuming() -> None:
    accepted = steady(0, 200, 10)  # routing and approval stopped meanwhile
    opened = steady(13, 400, 5)  # resumed at 11 s, rejoined Kafka; all 2,000 open in 5 s
    rates = pipeline_rates(accepted, opened, resumed=11.0)
    assert rates.opened_during_load_per_s == 0
    assert rates.backlog_at_end == 2000
    assert rates.resume_lag == 2.0
    assert rates.drain_seconds == max(opened) - 13
    assert 395 <= rates.drain_per_s <= 405


def test_a_pipeline_that_keeps_up_has_no_backlog_and_posted_no_faster() -> None:
    accepted = steady(0, 20, 10)
    opened = [t + 0.05 for t in accepted]
    rates = pipeline_rates(accepted, opened)
    assert rates.backlog_at_end <= 2  # the last accepts' cases, 50 ms later
    assert not rates.posted_faster


def test_goal_met_missed_and_not_measured() -> None:
    assert Goal("cases/s", 310, 300, True, "/s").met is True
    assert Goal("cases/s", 56, 300, True, "/s").met is False
    assert Goal("cpu", 3.9, 4, False, "ms").met is True
    assert Goal("cpu", 13.0, 4, False, "ms").met is False
    assert Goal("cpu", float("nan"), 4, False, "ms").met is None
    assert Goal("cpu", 3.9, 4, False, "ms").goal == "≤ 4 ms"
    assert Goal("lost", 0, 0, False, "").goal == "none"


def test_paced_bound_is_three_kafka_p99_plus_twenty_ms() -> None:
    assert paced_bound_ms(47.0) == 161.0


def _goals(**changes: object) -> list[Goal]:
    figures: dict[str, object] = {
        "sustained_per_s": 56.0,
        "posted_per_s": 190.0,
        "posted_faster": True,
        "best_window_per_s": 56.0,
        "drain_per_s": 98.0,
        "cpu_ms": 13.0,
        "paced_p99_ms": 505.0,
        "kafka_p99_ms": 47.0,
        "alone_share": 0.1,
        "busy_share": 0.08,
        "lost": 0,
        "twice": 0,
    } | changes
    return issue_goals(**figures)  # type: ignore[arg-type]


def test_issue_18_figures_of_today_miss_every_target_but_exactness() -> None:
    goals = {goal.name.strip(): goal for goal in _goals()}
    assert [g.met for g in goals.values()].count(True) == 1
    assert goals["exactly once: lost + twice, every scope"].met is True
    assert goals["paced 20/s: accepted → case open p99"].bound == 161.0


def test_a_lost_application_fails_exactness_and_an_unmeasured_phase_says_so() -> None:
    goals = {goal.name.strip(): goal for goal in _goals(lost=1, kafka_p99_ms=float("nan"))}
    assert goals["exactly once: lost + twice, every scope"].met is False
    assert goals["paced 20/s: accepted → case open p99"].met is None


def test_a_pipeline_that_kept_up_with_the_windows_is_said_so() -> None:
    (sustained, *_) = _goals(sustained_per_s=150.0, posted_per_s=150.0, posted_faster=False)
    assert "kept up" in sustained.detail


def test_targets_table_prints_each_target_with_its_verdict() -> None:
    console = Console(record=True, width=200)
    console.print(goal_table(_goals(cpu_ms=3.5)))
    text = console.export_text()
    assert "≥ 300 /s" in text and "≤ 4 ms" in text and "161 ms" in text
    cpu_line = next(line for line in text.splitlines() if "CPU per application" in line)
    assert "yes" in cpu_line and "3.50 ms" in cpu_line


def test_quick_mode_shortens_every_phase_and_explicit_options_still_win() -> None:
    quick = arguments(["--quick"])
    assert quick.round_seconds < 12 and quick.rounds == 1 and quick.scale_out_seconds == 0
    assert arguments(["--quick", "--rounds", "3"]).rounds == 3
    full = arguments([])
    assert full.round_seconds == 12 and full.paced_rate == 20


def _round(target: str, rate: float, label: str = "round 1") -> Round:
    samples = [Sample(n / rate, 0.01, 201) for n in range(round(rate * 10))]
    cpu_shares = {"intake": 90.0, "routing": 60.0, "kafka": 20.0, "benchmark": 30.0}
    return Round(LoadResult(label, target, 32, 10.0, samples), cpu_shares)


def test_the_report_of_a_run_ends_with_the_targets_measured_in_it() -> None:
    accepted, opened = steady(0, 200, 10), steady(0.05, 50, 9.9) + steady(10.01, 100, 15)
    busy = Cycle(
        "pipeline busy",
        _round("intake", 200, "pipeline busy"),
        pipeline_rates(accepted, opened),
        {"intake": 4.0, "routing": 5.0, "approval": 3.0, "kafka": 1.0, "postgresql": 2.0},
        {"intake": 1.0, "routing": 2.0},
        drained=True,
        paused=False,
    )
    figures = Figures(
        rounds=[_round("bare", 2000), _round("intake", 150)],
        alone=_round("intake", 250, "backlog"),
        cycles=[busy],
        paced=LoadResult("paced load", "intake", 4, 15.0, [Sample(0, 0.02, 201)] * 300),
        case_open_ms=[60.0] * 99 + [500.0],
        raw_ms=[10.0] * 99 + [47.0],
        exactly_once=[Tally("whole run", 2300, 2300, 2300, 0, 0, 0, 1.0)],
        flame_graphs=FlameGraphs({"intake": Path("/tmp/intake.svg")}, {"routing": "no ptrace"}),
    )
    console = Console(record=True, width=220)
    report(figures, arguments(["--quick"]), {"intake": "tongban_intake"}, console)
    text = console.export_text()
    assert "/tmp/intake.svg" in text and "no ptrace" in text
    assert "(routing idle before, % of a core)" in text
    summary = text[text.index("Issue 18: targets and this run") :]
    cpu_line = next(line for line in summary.splitlines() if "CPU per application" in line)
    assert "13 ms" in cpu_line and "no" in cpu_line  # 4 + 5 + 3 + 1, PostgreSQL apart
    paced_line = next(line for line in summary.splitlines() if "paced 20/s" in line)
    assert "500 ms" in paced_line and "161 ms" in paced_line
    busy_line = next(line for line in summary.splitlines() if "pipeline busy ÷" in line)
    assert "0.07" in busy_line  # 150 ÷ 2,000
