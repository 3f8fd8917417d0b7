"""The burst decision: queue and state in, VMs to boot and refusals out. Pure: no
database, no engine, no clock, so the agent, the simulator and the property tests all
run this same code on the same inputs.

Demand is per group (burst.engines.PendingGroup: jobs alike in cores, memory, nodes,
project, image, flavor, features), as HTCondor's autoclusters are, so a cycle costs per
group and per boot, never per job. For each group the shortfall is the VMs its idle jobs
need (a job of several nodes needs that many VMs) less the VMs already starting or idle
for it. Boots are handed out one at a time to the
project with the most remaining allocation per VM it already got this cycle (shares by
remaining allocation), each to the best cloud that can take it: one that has the image
and a flavor that fits, is healthy and not backed off, has quota, site limits and throttle
slots left; among those the one matching the jobs' locality, then by priority, room left
(instances), price and name. Whatever cannot be booted is counted as a refusal with its reason.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .engines import PendingGroup


@dataclass(frozen=True)
class FlavorView:
    name: str
    cores: int
    ram_mb: int


@dataclass
class CloudView:
    """A cloud as the decision sees it: what may still be started on it now."""

    name: str
    priority: int = 10
    price: Decimal = Decimal(0)  # per core-hour
    tags: frozenset[str] = frozenset()
    usable: bool = True  # enabled, healthy and serving this batch machine
    flavors: Sequence[FlavorView] = ()
    images: frozenset[str] = frozenset()  # names active there
    default_image: str = ""
    backoffs: frozenset[tuple[str, str]] = frozenset()  # (flavor, image) not to boot now
    # Room left: None is no limit. Quota and site caps already net of what runs.
    free_instances: int | None = None
    free_cores: int | None = None
    free_ram_mb: int | None = None
    starting_slots: int = 5  # max starting less VMs now requested or booting
    boots_per_cycle: int = 10


@dataclass(frozen=True)
class SupplyVM:
    """A VM that will take this group's jobs soon: requested, booting or idle."""

    name: str
    cloud: str
    group: str
    cores: int
    ram_mb: int


@dataclass(frozen=True)
class Boot:
    cloud: str
    flavor: str
    image: str
    group: str  # group key
    account: str
    cores: int
    ram_mb: int


@dataclass
class Decision:
    boots: list[Boot] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)  # reason -> VMs not booted
    shortfall: dict[str, int] = field(default_factory=dict)  # group key -> VMs short
    demand_by_account: Counter = field(default_factory=Counter)  # idle jobs
    supply_by_cloud: Counter = field(default_factory=Counter)

    def boots_by(self, attribute: str) -> Counter:
        return Counter(getattr(b, attribute) for b in self.boots)


def group_key(group: PendingGroup) -> str:
    """A group's stable name: the same jobs give the same key on every cycle. Jobs of
    several nodes end in "|xN" (one-node jobs keep the key they always had)."""
    key = "|".join(
        str(v)
        for v in (
            group.account,
            group.partition,
            group.cores,
            group.memory_mb,
            group.image,
            group.flavor,
            group.features,
        )
    )
    return key if group.nodes <= 1 else f"{key}|x{group.nodes}"


def fits(flavor: FlavorView, group: PendingGroup) -> bool:
    return flavor.cores >= group.cores and (not group.memory_mb or flavor.ram_mb >= group.memory_mb)


def flavor_for(cloud: CloudView, group: PendingGroup) -> FlavorView | None:
    """The flavor the jobs ask for, else the smallest (cores, then memory) that fits."""
    if group.flavor:
        return next((f for f in cloud.flavors if f.name == group.flavor and fits(f, group)), None)
    fitting = [f for f in cloud.flavors if fits(f, group)]
    return min(fitting, key=lambda f: (f.cores, f.ram_mb, f.name), default=None)


def vms_needed(count: int, nodes: int, per_vm: int) -> int:
    """VMs that start `count` jobs of `nodes` nodes each, `per_vm` nodes to a VM. A job's
    nodes must be on distinct VMs, so never fewer VMs than one job's nodes; with that many
    or more, placing the jobs' nodes round the VMs in turn keeps each job's apart."""
    return max(nodes, math.ceil(count * nodes / per_vm))


def jobs_per_vm(flavor: FlavorView, group: PendingGroup) -> int:
    """Nodes of the group's jobs one VM of `flavor` holds (a one-node job is a node)."""
    by_cores = flavor.cores // max(group.cores, 1)
    by_ram = flavor.ram_mb // group.memory_mb if group.memory_mb else by_cores
    return max(1, min(by_cores, by_ram))


def _room(cloud: CloudView, flavor: FlavorView) -> str:
    """Why `cloud` cannot start one more `flavor` now ("" when it can)."""
    if cloud.starting_slots <= 0:
        return "throttle: VMs starting"
    if cloud.boots_per_cycle <= 0:
        return "throttle: boots per cycle"
    if cloud.free_instances is not None and cloud.free_instances < 1:
        return "quota: instances"
    if cloud.free_cores is not None and cloud.free_cores < flavor.cores:
        return "quota: cores"
    if cloud.free_ram_mb is not None and cloud.free_ram_mb < flavor.ram_mb:
        return "quota: memory"
    return ""


def _take(cloud: CloudView, flavor: FlavorView) -> None:
    cloud.starting_slots -= 1
    cloud.boots_per_cycle -= 1
    if cloud.free_instances is not None:
        cloud.free_instances -= 1
    if cloud.free_cores is not None:
        cloud.free_cores -= flavor.cores
    if cloud.free_ram_mb is not None:
        cloud.free_ram_mb -= flavor.ram_mb


def _room_left(cloud: CloudView) -> int:
    """Instances the cloud may still take: among clouds of one priority, the emptiest first."""
    return 10**9 if cloud.free_instances is None else cloud.free_instances


def _locality(cloud: CloudView, group: PendingGroup) -> int:
    wanted = {t for t in group.features.replace("|", "&").split("&") if t}
    return -len(wanted & cloud.tags)


def _choose(clouds: list[CloudView], group: PendingGroup) -> tuple[Boot | None, str]:
    """The best cloud for one VM of `group`, or why none can take it."""
    why = "no usable cloud"
    ranked = sorted(
        (c for c in clouds if c.usable),
        key=lambda c: (_locality(c, group), c.priority, -_room_left(c), c.price, c.name),
    )
    reasons: list[str] = []
    for cloud in ranked:
        image = group.image or cloud.default_image
        if not image or image not in cloud.images:
            reasons.append("image not in cloud")
            continue
        flavor = flavor_for(cloud, group)
        if flavor is None:
            reasons.append("no flavor fits")
            continue
        if (flavor.name, image) in cloud.backoffs:
            reasons.append("backed off")
            continue
        if room := _room(cloud, flavor):
            reasons.append(room)
            continue
        _take(cloud, flavor)
        key = group_key(group)
        return Boot(cloud.name, flavor.name, image, key, group.account, flavor.cores,
                    flavor.ram_mb), ""  # fmt: skip
    if reasons:
        # The most telling reason: a limit that was reached outranks a cloud that never fit.
        order = ["quota", "throttle", "backed off", "no flavor fits", "image not in cloud"]
        why = min(reasons, key=lambda r: next(i for i, o in enumerate(order) if r.startswith(o)))
    return None, why


def decide(
    groups: Iterable[PendingGroup],
    clouds: Sequence[CloudView],
    supply: Iterable[SupplyVM],
    remaining: dict[str, Decimal | None],
) -> Decision:
    """VMs to boot now. `remaining`: each account's remaining allocation on the burst
    clouds' pool (None: not accounted, no limit); an account absent or at zero or below
    gets no VM. The clouds' room is consumed in place on copies, never on the inputs."""
    clouds = [CloudView(**{**c.__dict__}) for c in clouds]
    decision = Decision()
    by_key: dict[str, PendingGroup] = {}
    for g in groups:
        if g.count <= 0:
            continue
        key = group_key(g)
        known = by_key.get(key)
        by_key[key] = g if known is None else _merged(known, g)
        decision.demand_by_account[g.account] += g.count
    # Supply: VMs already heading for a group serve it first; the rest (idle VMs whose
    # group has no jobs left) serve any group they fit, as the batch system would use them.
    spare: list[SupplyVM] = []
    have: Counter = Counter()
    for vm in supply:
        decision.supply_by_cloud[vm.cloud] += 1
        if vm.group in by_key:
            have[vm.group] += 1
        else:
            spare.append(vm)
    need: dict[str, int] = {}
    for key, g in sorted(by_key.items()):
        per_vm = _typical_per_vm(clouds, g)
        short = vms_needed(g.count, g.nodes, per_vm) - have[key]
        while short > 0 and spare:
            i = next((i for i, vm in enumerate(spare) if _vm_fits(vm, g)), None)
            if i is None:
                break
            spare.pop(i)
            short -= 1
        if short > 0:
            need[key] = short
    decision.shortfall = dict(need)
    # Hand out boots project by project, by remaining allocation per VM given.
    by_account: dict[str, list[str]] = defaultdict(list)
    for key in need:
        by_account[by_key[key].account].append(key)
    given: Counter = Counter()
    open_accounts = set()
    for account, keys in by_account.items():
        left = remaining.get(account, Decimal(0))
        if left is not None and left <= 0:
            decision.refusals["allocation spent"] += sum(need[k] for k in keys)
            continue
        open_accounts.add(account)
    while open_accounts:
        account = max(
            open_accounts,
            key=lambda a: (_weight(remaining.get(a)) / (given[a] + 1), -given[a], a),
        )
        keys = [k for k in by_account[account] if need[k] > 0]
        if not keys:
            open_accounts.discard(account)
            continue
        key = max(keys, key=lambda k: (need[k], k))
        boot, why = _choose(clouds, by_key[key])
        if boot is None:
            decision.refusals[why] += need[key]
            need[key] = 0
            continue
        decision.boots.append(boot)
        need[key] -= 1
        given[account] += 1
    return decision


def _weight(left: Decimal | None) -> float:
    return math.inf if left is None else float(left)


def _merged(a: PendingGroup, b: PendingGroup) -> PendingGroup:
    return PendingGroup(**{**a.__dict__, "count": a.count + b.count})


def _vm_fits(vm: SupplyVM, group: PendingGroup) -> bool:
    return vm.cores >= group.cores and (not group.memory_mb or vm.ram_mb >= group.memory_mb)


def _typical_per_vm(clouds: Sequence[CloudView], group: PendingGroup) -> int:
    """Jobs one VM of the group takes, on the cloud it would most likely go to: the first
    the ranking would choose that has its image and a fitting flavor not backed off."""
    ranked = sorted(
        clouds, key=lambda c: (not c.usable, _locality(c, group), c.priority, c.price, c.name)
    )
    for cloud in ranked:
        image = group.image or cloud.default_image
        flavor = flavor_for(cloud, group)
        if not image or image not in cloud.images or flavor is None:
            continue
        if (flavor.name, image) in cloud.backoffs:
            continue
        return jobs_per_vm(flavor, group)
    return 1
