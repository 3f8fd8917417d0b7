"""A run's plot: demand, VMs and mean waits over time, as SVG (no plotting library needed)
or as PNG when matplotlib is there."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError
from .stats import Summary


def svg_plot(result: Summary, title: str = "") -> str:
    """Demand (idle jobs), VMs and mean waits over time: three panels of one SVG, no
    plotting library needed."""
    s = result.series
    width, panel, left, gap = 900, 170, 70, 40
    panels = [("idle jobs", s["idle_jobs"], "#c0392b"), ("VMs", s["vms"], "#2471a3"),
              ("mean wait (s)", s["wait_s"], "#7d3c98")]  # fmt: skip
    height = gap + len(panels) * (panel + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">{_escape(title)}</text>']  # fmt: skip
    times = s["t"]
    t0, t1 = (times[0], times[-1]) if times else (0, 1)
    span = max(t1 - t0, 1)
    plot_w = width - left - 20
    for n, (label, values, colour) in enumerate(panels):
        top = gap + n * (panel + gap)
        top_value = max((v for v in values if v is not None), default=0) or 1
        out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{panel}" '
                   'fill="none" stroke="#999"/>')  # fmt: skip
        out.append(f'<text x="{left}" y="{top - 6}">{label} (max {top_value:g})</text>')
        out.append(f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{top_value:g}</text>')
        out.append(f'<text x="{left - 6}" y="{top + panel}" text-anchor="end">0</text>')
        points = [
            f"{left + (t - t0) / span * plot_w:.1f},{top + panel - v / top_value * panel:.1f}"
            for t, v in zip(times, values, strict=True)
            if v is not None
        ]
        if points:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" '
                       f'points="{" ".join(points)}"/>')  # fmt: skip
    days = span / 86400
    out.append(f'<text x="{left}" y="{height - 10}">{result.summary["from"][:10]}</text>')
    out.append(f'<text x="{left + plot_w}" y="{height - 10}" text-anchor="end">'
               f'{result.summary["to"][:10]} ({days:.1f} days)</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_plot(result: Summary, path: str | Path, title: str = "") -> Path:
    """The plot as SVG; PNG only through matplotlib when it is installed (it is not one of
    Allotment's dependencies)."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        path.write_text(svg_plot(result, title))
        return path
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: the plot is written as .svg or .png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError(
            f"{path}: PNG needs matplotlib, which is not installed; write an .svg instead"
        ) from None
    s = result.series
    hours = [(t - s["t"][0]) / 3600 for t in s["t"]]
    fig, axes = pyplot.subplots(3, 1, sharex=True, figsize=(10, 7))
    for ax, (key, label) in zip(axes, [("idle_jobs", "idle jobs"), ("vms", "VMs"),
                                       ("wait_s", "mean wait (s)")], strict=True):  # fmt: skip
        ax.plot(hours, [v if v is not None else float("nan") for v in s[key]], linewidth=0.8)
        ax.set_ylabel(label)
    axes[-1].set_xlabel("hours")
    axes[0].set_title(title)
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
    return path
