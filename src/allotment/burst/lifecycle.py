"""The rules of a VM's life and of a cloud's room, without a database or a clock.

The agent (burst.reconcile, burst.services) applies them to VM rows at wall-clock time;
the simulator (burst.simulation) to its own VMs in virtual time. Both call these functions,
so a replayed trace follows the rules the agent runs, not a copy of them that may drift.
Times are seconds; "elapsed" is how long the VM has been in the state the rule is about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from .demand import CloudView, FlavorView

# A booted server the cloud does not list yet: the listing may lag the boot call.
GONE_GRACE_S = 60.0


def boot_timed_out(elapsed_s: float, boot_timeout_s: float) -> bool:
    """The cloud took longer than the site allows to run a server: fail it (backed off)."""
    return elapsed_s > boot_timeout_s


def registration_timed_out(elapsed_s: float, register_timeout_s: float) -> bool:
    """A running server took too long to join the batch system (its image, its network or
    its contextualization are wrong): fail it, backed off. Also how long a registered node
    may stay away from the batch system before the VM is given up."""
    return elapsed_s > register_timeout_s


def server_lost(elapsed_s: float) -> bool:
    """The cloud still does not list a server it took a boot for, past the grace."""
    return elapsed_s > GONE_GRACE_S


def idle_to_retire(
    idle_s: float | None,
    idle_keep_s: float,
    headroom: int,
    newer_idle: Callable[[], int],
    starved: Callable[[], bool] = lambda: False,
) -> bool:
    """An idle VM is retired once idle for `idle_keep_s`, unless it is among the
    `headroom` most recently idle VMs of its cloud, kept for jobs about to come.
    `newer_idle` counts the cloud's VMs idle since later than this one; it is asked only
    when headroom matters (it is a query for the agent). Headroom never holds room that
    waiting jobs need: when the last decision refused VMs for want of room (`starved`:
    quota, caps or node names), an idle VM those jobs could not use goes (had they fit
    it, the batch system would have run them there and nothing would be refused)."""
    if idle_s is None or idle_s < idle_keep_s:
        return False
    if not headroom:
        return True
    return newer_idle() >= headroom or starved()


# Refusals that mean "no room", which a VM kept idle as headroom may be holding.
ROOM_REFUSALS = ("quota:", "no free node name")


def starved_of_room(refusals) -> bool:
    return any(str(reason).startswith(ROOM_REFUSALS) for reason in refusals or ())


def retire_reason(*, asked: bool, cloud: str, enabled: bool, idle_too_long: bool,
                  idle_keep_s: float, single_use_served: bool = False) -> str:  # fmt: skip
    """Why a registered VM is to be retired now ("" : it is kept). `single_use_served`: the
    VM, on a cloud whose VMs are single use, has taken work; it gets no more."""
    if asked:
        return "an operator asked"
    if not enabled:
        return f"cloud {cloud} is disabled"
    if single_use_served:
        return f"single use on cloud {cloud}: it took its jobs"
    if idle_too_long:
        return f"idle for {idle_keep_s} s"
    return ""


def backoff_span(failures: int, base: timedelta, cap: timedelta) -> timedelta:
    """How long a cloud, flavor and image that failed `failures` times in a row are not
    chosen: doubling from `base`, at most `cap`."""
    return min(base * 2 ** (max(failures, 1) - 1), cap)


# -- a cloud's room --------------------------------------------------------------------


def room(limit: int | None, site_cap: int | None, ours: int, others: int = 0) -> int | None:
    """What may still be started under the cloud's quota `limit` (shared with servers not
    ours, `others`) and the site's own cap on our use (None: no limit)."""
    values = [limit - others - ours] if limit is not None else []
    if site_cap is not None:
        values.append(site_cap - ours)
    return min(values) if values else None


class CloudSettings(Protocol):
    """The site's settings on a cloud: burst.models.Cloud has them, and so has the
    simulator's cloud."""

    name: str
    priority: int
    price_per_core_hour: Decimal
    tags: list[str]
    default_image: str
    max_instances: int | None
    max_cores: int | None
    max_ram_mb: int | None
    max_starting: int
    max_boots_per_cycle: int


@dataclass
class LiveCounts:
    """Our VMs on a cloud that count against its quota and throttles (states.LIVE), and
    how many of them are still starting (states.STARTING)."""

    instances: int = 0
    cores: int = 0
    ram_mb: int = 0
    starting: int = 0


def cloud_view(
    cloud: CloudSettings,
    *,
    usable: bool,
    flavors: Iterable[FlavorView],
    images: frozenset[str],
    backoffs: frozenset[tuple[str, str]],
    quota: dict,
    live: LiveCounts,
) -> CloudView:
    """The cloud as the decision sees it. `quota`: the cloud's limits ("instances",
    "cores", "ram_mb"; absent or None: none) and under "others" what servers not ours use."""
    others = quota.get("others") or {}
    return CloudView(
        name=cloud.name,
        priority=cloud.priority,
        price=cloud.price_per_core_hour,
        tags=frozenset(cloud.tags or ()),
        usable=usable,
        flavors=list(flavors),
        images=images,
        default_image=cloud.default_image,
        backoffs=backoffs,
        free_instances=room(
            quota.get("instances"), cloud.max_instances, live.instances, others.get("instances", 0)
        ),
        free_cores=room(quota.get("cores"), cloud.max_cores, live.cores, others.get("cores", 0)),
        free_ram_mb=room(
            quota.get("ram_mb"), cloud.max_ram_mb, live.ram_mb, others.get("ram_mb", 0)
        ),
        starting_slots=cloud.max_starting - live.starting,
        boots_per_cycle=cloud.max_boots_per_cycle,
    )
