"""The latency of every request over the run, one colour per phase and endpoint, as a PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.loadgen import LoadResult


def latency_plot(results: Sequence[LoadResult], origin: float, path: Path, title: str) -> Path:
    """Scatter of each answered request's latency (log scale) against its start time (seconds
    since `origin`, a time.perf_counter()); timeouts and errors are drawn as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(16, 7), dpi=110)
    palette = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors]  # type: ignore[attr-defined]
    series: dict[str, list[LoadResult]] = {}
    for result in results:
        series.setdefault(f"{result.label} · {result.target}", []).append(result)
    for index, (name, parts) in enumerate(series.items()):
        ok = [s for r in parts for s in r.samples if s.status == r.expected]
        failed = [s for r in parts for s in r.samples if s.status != r.expected]
        colour = palette[index % len(palette)]
        axes.scatter(
            [s.started - origin for s in ok],
            [s.latency * 1000 for s in ok],
            s=3 if len(ok) > 2000 else 6,
            alpha=0.3 if len(ok) > 2000 else 0.7,
            color=colour,
            label=f"{name} ({len(ok)})",
            rasterized=True,
            linewidths=0,
        )
        if failed:
            axes.scatter(
                [s.started - origin for s in failed],
                [max(s.latency * 1000, 0.1) for s in failed],
                s=14,
                marker="x",
                color=colour,
                label=f"{name}: failed ({len(failed)})",
            )
    axes.set_yscale("log")
    axes.set_xlabel("seconds since the first measured request")
    axes.set_ylabel("latency (ms, log scale)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.25)
    legend = axes.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, markerscale=3, frameon=False
    )
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1.0)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
