"""The burst decision on random queues and clouds (hypothesis): whatever the groups,
quotas, caps, throttles, flavors, images, back-offs, health, supply and allocations, no
cloud is given more than its room, no account without allocation gets a VM, every boot
can really be booted where it was sent, no group gets more than its shortfall, every VM
short is either booted or refused, and the decision neither changes its inputs nor
depends on anything but them."""

import copy
from collections import Counter
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.burst.demand import CloudView, FlavorView, SupplyVM, decide, fits, group_key
from allotment.burst.engines import PendingGroup

FLAVOR_NAMES = ["f1", "f2", "f3", "f4"]
IMAGES = ["i1", "i2", "i3"]
ACCOUNTS = ["a", "b", "c", "d"]
TAGS = ["t1", "t2"]

limits = st.one_of(st.none(), st.integers(-2, 24))


@st.composite
def clouds(draw) -> list[CloudView]:
    n = draw(st.integers(1, 4))
    found = []
    for i in range(n):
        names = draw(st.lists(st.sampled_from(FLAVOR_NAMES), unique=True, max_size=4))
        flavors = [
            FlavorView(name, draw(st.integers(1, 8)), draw(st.integers(1, 16)) * 500)
            for name in names
        ]
        images = draw(st.frozensets(st.sampled_from(IMAGES)))
        pairs = [(f, i) for f in FLAVOR_NAMES for i in IMAGES]
        found.append(
            CloudView(
                name=f"c{i}",
                priority=draw(st.integers(0, 3)),
                price=Decimal(draw(st.integers(0, 3))) / 10,
                tags=draw(st.frozensets(st.sampled_from(TAGS))),
                usable=draw(st.booleans()),
                flavors=flavors,
                images=images,
                default_image=draw(st.sampled_from(["", *IMAGES])),
                backoffs=draw(st.frozensets(st.sampled_from(pairs), max_size=4)),
                free_instances=draw(limits),
                free_cores=draw(limits),
                free_ram_mb=draw(st.one_of(st.none(), st.integers(-1000, 40_000))),
                starting_slots=draw(st.integers(-1, 6)),
                boots_per_cycle=draw(st.integers(0, 6)),
            )
        )
    return found


groups = st.lists(
    st.builds(
        PendingGroup,
        cores=st.integers(1, 6),
        memory_mb=st.sampled_from([0, 0, 500, 1500, 4000, 9000]),
        partition=st.just("burst"),
        account=st.sampled_from(ACCOUNTS),
        features=st.sampled_from(["", "t1", "t1&t2", "t2|t1"]),
        image=st.sampled_from(["", *IMAGES]),
        flavor=st.sampled_from(["", "", *FLAVOR_NAMES]),
        count=st.integers(0, 12),
        nodes=st.sampled_from([1, 1, 2, 4]),
    ),
    max_size=6,
)

remaining = st.dictionaries(
    st.sampled_from(ACCOUNTS),
    st.one_of(st.none(), st.integers(-5, 100).map(Decimal)),
)


@st.composite
def scenarios(draw):
    cs = draw(clouds())
    gs = draw(groups)
    keys = [group_key(g) for g in gs] + ["gone-group"]
    supply = [
        SupplyVM(
            f"vm{n}",
            draw(st.sampled_from([c.name for c in cs])),
            draw(st.sampled_from(keys)),
            draw(st.integers(1, 8)),
            draw(st.integers(1, 16)) * 500,
        )
        for n in range(draw(st.integers(0, 6)))
    ]
    return gs, cs, supply, draw(remaining)


def _room(value: int | None) -> float:
    return float("inf") if value is None else max(value, 0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_decision_keeps_every_limit_and_boots_only_what_can_boot(scenario):
    gs, cs, supply, left = scenario
    before = copy.deepcopy(scenario)

    decision = decide(gs, cs, supply, left)

    assert scenario == before, "decide changed its inputs"
    by_key = {group_key(g): g for g in gs}
    by_cloud = {c.name: c for c in cs}
    for name, boots in _per(decision.boots, "cloud").items():
        c = by_cloud[name]
        assert len(boots) <= _room(c.free_instances), name
        assert sum(b.cores for b in boots) <= _room(c.free_cores), name
        assert sum(b.ram_mb for b in boots) <= _room(c.free_ram_mb), name
        assert len(boots) <= _room(c.starting_slots), name
        assert len(boots) <= _room(c.boots_per_cycle), name
    for boot in decision.boots:
        c, g = by_cloud[boot.cloud], by_key[boot.group]
        assert boot.account == g.account
        assert boot.account in left and (left[boot.account] is None or left[boot.account] > 0)
        assert c.usable
        flavor = next(f for f in c.flavors if f.name == boot.flavor)
        assert (flavor.cores, flavor.ram_mb) == (boot.cores, boot.ram_mb)
        assert fits(flavor, g)
        assert not g.flavor or boot.flavor == g.flavor
        assert boot.image == (g.image or c.default_image) and boot.image in c.images
        assert (boot.flavor, boot.image) not in c.backoffs
    for key, n in Counter(b.group for b in decision.boots).items():
        assert n <= decision.shortfall[key]
    nodes_asked = Counter()
    for g in gs:
        nodes_asked[group_key(g)] += max(g.count, 0) * g.nodes
    for key, short in decision.shortfall.items():
        assert short <= nodes_asked[key], "more VMs than the jobs have nodes"
    # Every VM short is either booted or refused, once.
    assert sum(decision.shortfall.values()) == len(decision.boots) + sum(decision.refusals.values())
    assert decision.demand_by_account == Counter(
        {
            a: n
            for a in ACCOUNTS
            if (n := sum(g.count for g in gs if g.account == a and g.count > 0))
        }
    )

    again = decide(*copy.deepcopy(before))
    assert (again.boots, again.refusals, again.shortfall) == (
        decision.boots,
        decision.refusals,
        decision.shortfall,
    )


def _per(boots, attribute: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for b in boots:
        found.setdefault(getattr(b, attribute), []).append(b)
    return found
