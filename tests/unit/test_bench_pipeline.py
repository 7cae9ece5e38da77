"""The benchmark's arithmetic of the pipeline (window rates, the drain) and its targets' table:
what `make bench` reports as issue 18's figures must mean what the issue says."""

from __future__ import annotations

from rich.console import Console

from benchmarks.journey import arguments
from benchmarks.pipeline import best_window, pipeline_rates
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


def test_a_paused_pipeline_drains_from_its_resumption_not_from_the_last_accept() -> None:
    accepted = steady(0, 200, 10)  # routing and approval stopped meanwhile
    opened = steady(15, 400, 5)  # resumed at 14.9 s; all 2,000 open in 5 s
    rates = pipeline_rates(accepted, opened, drain_from=14.9)
    assert rates.opened_during_load_per_s == 0
    assert rates.backlog_at_end == 2000
    assert rates.drain_seconds == max(opened) - 14.9
    assert 385 <= rates.drain_per_s <= 400


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
    assert Goal("cpu", 3.9, 4, False, "ms").goal == "≤ 4.00 ms"


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
    assert "≥ 300 /s" in text and "≤ 4.00 ms" in text and "161 ms" in text
    cpu_line = next(line for line in text.splitlines() if "CPU per application" in line)
    assert "yes" in cpu_line and "3.50 ms" in cpu_line


def test_quick_mode_shortens_every_phase_and_explicit_options_still_win() -> None:
    quick = arguments(["--quick"])
    assert quick.round_seconds < 12 and quick.rounds == 1 and quick.scale_out_seconds == 0
    assert arguments(["--quick", "--rounds", "3"]).rounds == 3
    full = arguments([])
    assert full.round_seconds == 12 and full.paced_rate == 20
