"""Runs kept by `allot burst simulate --store`, for the simulations pages."""

from __future__ import annotations

from .stats import Summary


def store(result: Summary, trace: str, clouds: str, config: dict) -> int:
    """Save the run for the page; returns its id."""
    from ..models import SimulationRun

    run = SimulationRun.objects.create(
        trace=trace[:300], clouds=clouds[:300], config=config,
        summary=result.summary, series=result.series,
    )  # fmt: skip
    return run.pk


def simulation_runs(limit: int = 50) -> list[dict]:
    """Stored runs, newest first: what each replayed and its figures (not the series)."""
    from ..models import SimulationRun

    return [
        {"id": r.pk, "at": r.at, "trace": r.trace, "clouds": r.clouds, "summary": r.summary}
        for r in SimulationRun.objects.order_by("-at", "-pk")[:limit]
    ]


def simulation_run(pk: int) -> dict | None:
    """One stored run with its series (for its plot), or None."""
    from ..models import SimulationRun

    r = SimulationRun.objects.filter(pk=pk).first()
    if r is None:
        return None
    return {"id": r.pk, "at": r.at, "trace": r.trace, "clouds": r.clouds, "config": r.config,
            "summary": r.summary, "series": r.series}  # fmt: skip
