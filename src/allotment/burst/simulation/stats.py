"""What a simulation counts as it runs (jobs, waits, boots, VM time, cost, refusals, peaks),
the series sampled for its plot, and the summary it ends with."""

from __future__ import annotations

import math
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from .. import demand, lifecycle
from .config import SimCloud
from .trace import Trace

if TYPE_CHECKING:
    from .simulator import Simulator, SimVM

MAX_POINTS = 1000  # samples in a run's series, whatever its span


class Stats:
    """What a run counts as it goes, and the series sampled for the plot."""

    def __init__(self, clouds: list[SimCloud]):
        self.clouds = clouds
        self.jobs_arrived = self.jobs_run = self.jobs_fit_nowhere = self.jobs_never_run = 0
        self.waits: list[float] = []
        self.busy_core_s = 0.0
        self.vm_core_s = 0.0
        self.vm_s_by_cloud: Counter = Counter()
        self.vm_s_by_project: Counter = Counter()
        self.cost_by_cloud: dict[str, Decimal] = {c.name: Decimal(0) for c in clouds}
        self.boots_by_day: Counter = Counter()
        self.boots_by_cloud: Counter = Counter()
        self.failures: Counter = Counter()
        self.refusals: Counter = Counter()
        self.decisions = 0
        self.peaks = {c.name: Counter() for c in clouds}
        self.series: dict[str, list] = {"t": [], "idle_jobs": [], "running_jobs": [],
                                         "vms": [], "wait_s": []}  # fmt: skip
        self.bucket_waits: list[float] = []
        self.next_sample = math.inf
        self.step = 3600.0
        self.offset = 0
        self.epoch = 0
        self.first = self.last_submit = 0.0

    def begin(self, trace: Trace, cycle: float) -> None:
        self.epoch = trace.epoch
        self.first, self.last_submit = trace.submit[0], trace.submit[-1]
        span = max(self.last_submit - self.first, cycle)
        self.step = max(cycle, math.ceil(span / MAX_POINTS / cycle) * cycle)
        self.next_sample = self.first
        start = datetime.fromtimestamp(trace.epoch + self.first, UTC)
        try:
            zone = zoneinfo.ZoneInfo(trace.zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = UTC
        self.offset = int(start.astimezone(zone).utcoffset().total_seconds())

    def day(self, at: float) -> int:
        return int((self.epoch + at + self.offset) // 86400)

    def sample_until(self, at: float, sim: Simulator) -> None:
        while self.next_sample <= at and self.next_sample <= self.last_submit + self.step:
            s = self.series
            s["t"].append(self.next_sample)
            s["idle_jobs"].append(sim.pending)
            s["running_jobs"].append(sim.running)
            s["vms"].append(len(sim.vms))
            waits = self.bucket_waits
            s["wait_s"].append(round(sum(waits) / len(waits), 1) if waits else None)
            waits.clear()
            self.next_sample += self.step

    def job_started(self, at: float, wait: float, core_s: float) -> None:
        self.waits.append(wait)
        self.bucket_waits.append(wait)
        self.busy_core_s += core_s

    def booted(self, at: float, cloud: str, live: lifecycle.LiveCounts) -> None:
        self.boots_by_day[self.day(at)] += 1
        self.boots_by_cloud[cloud] += 1
        peak = self.peaks[cloud]
        for key in ("instances", "cores", "ram_mb", "starting"):
            peak[key] = max(peak[key], getattr(live, key))

    def ended(self, vm: SimVM, at: float, split: dict[str, int], price: Decimal) -> None:
        seconds = at - vm.requested_at
        self.vm_s_by_cloud[vm.cloud] += seconds
        self.vm_core_s += seconds * vm.cores
        self.vm_s_by_project.update(split)
        self.cost_by_cloud[vm.cloud] += price * Decimal(vm.cores * seconds / 3600)

    def decided(self, decision: demand.Decision, booted: list[SimVM]) -> None:
        self.decisions += 1
        self.refusals.update(decision.refusals)
        for cloud, n in Counter(vm.cloud for vm in booted).items():
            peak = self.peaks[cloud]
            peak["boots_per_cycle"] = max(peak["boots_per_cycle"], n)

    def repeat(self, refusals: Counter, times: int) -> None:
        if times > 0:
            for reason, n in refusals.items():
                self.refusals[reason] += n * times

    def summary(self, sim: Simulator, seconds: float) -> Summary:
        waits = sorted(self.waits)
        first, last = self.day(self.first) + 1, self.day(self.last_submit) - 1
        full = range(first, last + 1) if last >= first else sorted(self.boots_by_day)
        per_day = [self.boots_by_day[d] for d in full]
        hours = lambda s: round(s / 3600, 2)  # noqa: E731
        cost = {c: round(float(v), 2) for c, v in self.cost_by_cloud.items()}
        t = sim.trace
        return Summary(
            {
                "trace": t.name,
                "from": _iso(t, self.first),
                "to": _iso(t, self.last_submit),
                "cycle_s": sim.config.cycle_s,
                "jobs": len(t),
                "jobs_invalid": t.invalid,
                "jobs_run": self.jobs_run,
                "jobs_fit_nowhere": self.jobs_fit_nowhere,
                "jobs_never_run": self.jobs_never_run,
                "vms_booted": sum(self.boots_by_cloud.values()),
                "vms_booted_by_cloud": dict(sorted(self.boots_by_cloud.items())),
                "vms_per_day": {
                    "mean": round(sum(per_day) / len(per_day), 1) if per_day else 0,
                    "max": max(per_day, default=0),
                    "full_days": len(per_day),
                },
                "vms_failed": dict(self.failures),
                "wait_mean_s": round(sum(waits) / len(waits), 1) if waits else 0,
                "wait_p95_s": round(_percentile(waits, 0.95), 1),
                "wait_max_s": round(waits[-1], 1) if waits else 0,
                "utilisation": round(self.busy_core_s / self.vm_core_s, 4)
                if self.vm_core_s else 0,
                "vm_hours_by_cloud": {c: hours(v) for c, v in sorted(self.vm_s_by_cloud.items())},
                "vm_hours_by_project": {
                    a: hours(v) for a, v in sorted(self.vm_s_by_project.items())
                },
                "cost": {"total": round(sum(cost.values()), 2), "by_cloud": cost},
                "refusals": dict(sorted(self.refusals.items())),
                "peaks": {c: dict(sorted(p.items())) for c, p in self.peaks.items()},
                "limits": {c.name: _limits(c) for c in self.clouds},
                "decisions": self.decisions,
                "seconds": round(seconds, 2),
            },
            {k: list(v) for k, v in self.series.items()},
        )  # fmt: skip


def _percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted values (0 when there are none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _iso(trace: Trace, at: float) -> str:
    return datetime.fromtimestamp(trace.epoch + at, UTC).isoformat()


def _limits(cloud: SimCloud) -> dict:
    """The tightest limit of each kind: the cloud's quota or the site's cap."""

    def least(*values):
        present = [v for v in values if v is not None]
        return min(present) if present else None

    return {
        "instances": least(cloud.quota.get("instances"), cloud.max_instances),
        "cores": least(cloud.quota.get("cores"), cloud.max_cores),
        "ram_mb": least(cloud.quota.get("ram_mb"), cloud.max_ram_mb),
        "starting": cloud.max_starting,
        "boots_per_cycle": cloud.max_boots_per_cycle,
    }


@dataclass
class Summary:
    summary: dict
    series: dict
