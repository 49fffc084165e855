"""Charts with matplotlib (Agg, no display): the timeline as PNG bytes."""

from __future__ import annotations

import io
from collections import defaultdict

from blockwatch.analysis.reports import Report


def timeline_png(report: Report, *, width_in: float = 9.0, height_in: float = 4.0) -> bytes:
    """Share blocked per day, one line per resolver."""
    import matplotlib

    matplotlib.use("Agg")   # headless: analysts run this on servers and in CI
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for day, resolver, share in zip(report.column("day"), report.column("resolver"),
                                    report.column("share_blocked_pct"), strict=True):
        if share is not None:
            series[str(resolver)].append((str(day), float(share)))
    import datetime as dt

    fig: Figure = plt.figure(figsize=(width_in, height_in), dpi=100)
    try:
        ax = fig.add_subplot(1, 1, 1)
        for resolver, points in sorted(series.items()):
            days = [dt.date.fromisoformat(d) for d, _ in points]
            ax.plot(days, [s for _, s in points], marker="o", label=resolver)  # type: ignore[arg-type]
        ax.set_ylim(-2, 102)
        ax.set_ylabel("share blocked (%)")
        ax.set_title(report.title)
        fig.autofmt_xdate()
        if series:
            ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        out = io.BytesIO()
        fig.savefig(out, format="png", bbox_inches="tight")
        return out.getvalue()
    finally:
        plt.close(fig)
