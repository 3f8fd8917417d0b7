"""The burst decision (burst.demand.decide), case by case, with every expected number
worked out by hand from the inputs; and the cloud views the cycle feeds it
(services.cloud_views), where quota, site caps and throttles become the room left."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from allotment.burst import services
from allotment.burst.demand import (
    Boot,
    CloudView,
    FlavorView,
    SupplyVM,
    decide,
    flavor_for,
    group_key,
    jobs_per_vm,
)
from allotment.burst.engines import PendingGroup
from allotment.burst.models import VM, Backoff, CloudImage, CloudState, Flavor, Health

SMALL = FlavorView("small", 1, 1000)
MEDIUM = FlavorView("medium", 2, 2000)
LARGE = FlavorView("large", 4, 8000)
PLENTY = {"a": None, "b": None}


def group(account: str = "a", count: int = 1, **kw) -> PendingGroup:
    return PendingGroup(
        **{"cores": 1, "memory_mb": 0, "partition": "burst", "account": account, "count": count}
        | kw
    )


def cloud(name: str = "c1", **kw) -> CloudView:
    defaults = {
        "flavors": (SMALL, MEDIUM, LARGE),
        "images": frozenset({"worker"}),
        "default_image": "worker",
        "starting_slots": 100,
        "boots_per_cycle": 100,
    }
    return CloudView(name=name, **(defaults | kw))


def booted(decision) -> list[tuple[str, str, str, str]]:
    return [(b.cloud, b.flavor, b.image, b.account) for b in decision.boots]


# -- shortfall and supply ----------------------------------------------------------------


def test_the_shortfall_is_the_vms_the_idle_jobs_need_less_those_already_coming():
    g = group(count=5)
    supply = [SupplyVM(f"vm{n}", "c1", group_key(g), 1, 1000) for n in (1, 2)]
    decision = decide([g], [cloud(flavors=(SMALL,))], supply, PLENTY)
    assert decision.shortfall == {group_key(g): 3}  # 5 one-core jobs, 1 per VM, 2 coming
    assert booted(decision) == [("c1", "small", "worker", "a")] * 3
    assert decision.refusals == Counter()
    assert decision.demand_by_account == Counter({"a": 5})
    assert decision.supply_by_cloud == Counter({"c1": 2})


def test_a_group_with_as_many_vms_coming_as_it_needs_boots_nothing():
    g = group(count=2)
    supply = [SupplyVM(f"vm{n}", "c1", group_key(g), 1, 1000) for n in (1, 2, 3)]
    decision = decide([g], [cloud(flavors=(SMALL,))], supply, PLENTY)
    assert decision.shortfall == {}
    assert decision.boots == []


def test_groups_alike_are_merged_and_empty_groups_ignored():
    decision = decide(
        [group(count=2), group(count=3), group(account="b", count=0)],
        [cloud(flavors=(SMALL,))],
        [],
        PLENTY,
    )
    assert decision.shortfall == {group_key(group()): 5}
    assert decision.demand_by_account == Counter({"a": 5})
    assert len(decision.boots) == 5


def test_each_group_has_its_own_shortfall():
    one, two = group(count=3), group(account="b", cores=2, count=2)
    supply = [SupplyVM("vm1", "c1", group_key(two), 2, 2000)]
    decision = decide([one, two], [cloud(flavors=(SMALL, MEDIUM))], supply, PLENTY)
    assert decision.shortfall == {group_key(one): 3, group_key(two): 1}
    assert (
        sorted(booted(decision))
        == [("c1", "medium", "worker", "b")] + [("c1", "small", "worker", "a")] * 3
    )


def test_idle_vms_of_groups_without_jobs_absorb_the_demand_they_fit():
    g = group(cores=2, count=3)
    spare = [
        SupplyVM("big", "c1", "gone-group", 4, 8000),  # fits: takes one VM of the shortfall
        SupplyVM("tiny", "c1", "gone-group", 1, 1000),  # one core: does not fit 2-core jobs
    ]
    decision = decide([g], [cloud(flavors=(MEDIUM,))], spare, PLENTY)
    assert decision.shortfall == {group_key(g): 2}
    assert len(decision.boots) == 2


def test_a_spare_vm_without_the_memory_absorbs_nothing():
    g = group(memory_mb=3000, count=1)
    spare = [SupplyVM("vm1", "c1", "gone-group", 8, 2000)]
    decision = decide([g], [cloud()], spare, PLENTY)
    assert decision.shortfall == {group_key(g): 1}
    assert booted(decision) == [("c1", "large", "worker", "a")]


def test_a_spare_vm_absorbs_for_one_group_only():
    one, two = group(count=1), group(account="b", count=1)
    spare = [SupplyVM("vm1", "c1", "gone-group", 1, 1000)]
    decision = decide([one, two], [cloud(flavors=(SMALL,))], spare, PLENTY)
    # Groups in key order: "a|..." takes the spare, "b|..." boots one.
    assert decision.shortfall == {group_key(two): 1}
    assert booted(decision) == [("c1", "small", "worker", "b")]


# -- flavors, memory, jobs per VM --------------------------------------------------------


def test_the_flavor_asked_for_is_booted_even_when_a_smaller_one_fits():
    decision = decide([group(flavor="large")], [cloud()], [], PLENTY)
    assert booted(decision) == [("c1", "large", "worker", "a")]


def test_a_flavor_asked_for_that_is_too_small_or_absent_is_refused():
    too_small = group(cores=2, flavor="small", count=2)
    absent = group(account="b", flavor="huge", count=3)
    decision = decide([too_small, absent], [cloud()], [], PLENTY)
    assert decision.boots == []
    assert decision.refusals == Counter({"no flavor fits": 5})


def test_without_a_flavor_asked_for_the_smallest_that_fits_by_cores_then_memory():
    flavors = (FlavorView("two-small", 2, 1000), FlavorView("one-big", 1, 4000),
               FlavorView("one-mid", 1, 2000), FlavorView("one-tiny", 1, 500))  # fmt: skip
    c = cloud(flavors=flavors)
    assert flavor_for(c, group()).name == "one-tiny"  # 1 core, least memory
    assert flavor_for(c, group(memory_mb=1500)).name == "one-mid"  # fewer cores beat memory
    assert flavor_for(c, group(memory_mb=3000)).name == "one-big"
    assert flavor_for(c, group(cores=2)).name == "two-small"
    assert flavor_for(c, group(cores=2, memory_mb=1500)) is None
    assert flavor_for(c, group(cores=3)) is None


def test_memory_picks_a_larger_flavor_and_none_fits_is_refused():
    decision = decide(
        [group(memory_mb=3000), group(account="b", memory_mb=9000, count=2)], [cloud()], [], PLENTY
    )
    assert booted(decision) == [("c1", "large", "worker", "a")]
    assert decision.refusals == Counter({"no flavor fits": 2})


def test_jobs_per_vm_is_bounded_by_cores_and_by_memory():
    assert jobs_per_vm(LARGE, group()) == 4
    assert jobs_per_vm(LARGE, group(cores=3)) == 1
    assert jobs_per_vm(LARGE, group(memory_mb=3000)) == 2  # 8000 // 3000
    assert jobs_per_vm(FlavorView("x", 8, 2000), group(memory_mb=500)) == 4
    assert jobs_per_vm(FlavorView("x", 1, 100), group(memory_mb=500)) == 1  # never 0


def test_several_jobs_share_a_vm_so_fewer_vms_are_short():
    only_large = cloud(flavors=(LARGE,))
    ten = group(count=10)
    assert decide([ten], [only_large], [], PLENTY).shortfall == {group_key(ten): 3}  # ⌈10/4⌉
    fat = group(memory_mb=3000, count=5)
    decision = decide([fat], [only_large], [], PLENTY)
    assert decision.shortfall == {group_key(fat): 3}  # 2 per VM by memory: ⌈5/2⌉
    assert len(decision.boots) == 3


def test_a_job_of_several_nodes_needs_a_vm_per_node():
    # 3 jobs of 4 nodes x 2 cores: on 2-core VMs one node each, so 12 VMs.
    wide = group(cores=2, nodes=4, count=3)
    decision = decide([wide], [cloud(flavors=(MEDIUM,))], [], PLENTY)
    assert decision.shortfall == {group_key(wide): 12}
    assert booted(decision) == [("c1", "medium", "worker", "a")] * 12


def test_nodes_of_different_jobs_share_a_vm_but_never_fewer_vms_than_a_jobs_nodes():
    only_large = cloud(flavors=(LARGE,))
    # 4-core VMs hold two 2-core nodes: 3 jobs x 4 nodes = 12 nodes on 6 VMs.
    three = group(cores=2, nodes=4, count=3)
    assert decide([three], [only_large], [], PLENTY).shortfall == {group_key(three): 6}
    # One job of 4 one-core nodes would fit one VM's cores, but its nodes are 4 hosts.
    one = group(cores=1, nodes=4, count=1)
    assert decide([one], [only_large], [], PLENTY).shortfall == {group_key(one): 4}


def test_a_several_node_group_is_not_the_one_node_group_of_the_same_shape():
    single, wide = group(cores=2), group(cores=2, nodes=4)
    assert group_key(single) != group_key(wide)
    assert group_key(single) == "a|burst|2|0|||"  # one-node keys as they always were
    decision = decide([single, wide], [cloud(flavors=(MEDIUM,))], [], PLENTY)
    assert decision.shortfall == {group_key(single): 1, group_key(wide): 4}


def test_jobs_per_vm_are_counted_on_the_cloud_the_vms_go_to():
    clouds = [
        cloud("big-no-image", priority=1, flavors=(LARGE,), images=frozenset()),
        cloud("small", priority=2, flavors=(SMALL,)),
    ]
    four = group(count=4)
    decision = decide([four], clouds, [], PLENTY)
    # Only "small" can boot them: one job per 1-core VM, so 4 VMs, not ⌈4/4⌉ = 1.
    assert decision.shortfall == {group_key(four): 4}
    assert booted(decision) == [("small", "small", "worker", "a")] * 4


# -- which cloud ---------------------------------------------------------------------------


def test_clouds_are_ranked_by_locality_then_priority_then_price_then_name():
    clouds = [
        cloud("cheap", priority=5, price=Decimal("0.01")),
        cloud("near", priority=20, price=Decimal("0.50"), tags=frozenset({"data:vospace"})),
        cloud("first", priority=1, price=Decimal("0.90")),
        cloud("b-twin", priority=1, price=Decimal("0.90")),
        cloud("cheaper-twin", priority=1, price=Decimal("0.10")),
    ]
    pick = lambda g: decide([g], clouds, [], PLENTY).boots[0].cloud  # noqa: E731
    assert pick(group(features="data:vospace")) == "near"
    assert pick(group(features="ssd&data:vospace")) == "near"
    assert pick(group()) == "cheaper-twin"  # priority 1, then the lowest price
    assert pick(group(features="data:elsewhere")) == "cheaper-twin"


def test_among_clouds_of_one_priority_the_one_with_more_room_goes_first():
    clouds = [
        cloud("cheap-full", priority=1, price=Decimal("0.01"), free_instances=1),
        cloud("roomy", priority=1, price=Decimal("0.50"), free_instances=9),
        cloud("later", priority=2, free_instances=None),
    ]
    decision = decide([group(count=3)], clouds, [], PLENTY)
    assert [b.cloud for b in decision.boots] == ["roomy", "roomy", "roomy"]


def test_equal_priority_and_price_go_to_the_first_name():
    clouds = [cloud("zulu"), cloud("alpha")]
    assert decide([group()], clouds, [], PLENTY).boots[0].cloud == "alpha"


def test_more_matching_tags_win_over_fewer():
    clouds = [
        cloud("one", priority=1, tags=frozenset({"gpu"})),
        cloud("two", priority=9, tags=frozenset({"gpu", "data:x"})),
    ]
    decision = decide([group(features="gpu&data:x")], clouds, [], PLENTY)
    assert decision.boots[0].cloud == "two"


def test_a_full_cloud_passes_the_rest_to_the_next_one():
    clouds = [cloud("first", priority=1, free_instances=2), cloud("second", priority=2)]
    decision = decide([group(count=5)], clouds, [], PLENTY)
    assert decision.boots_by("cloud") == Counter({"first": 2, "second": 3})
    assert decision.refusals == Counter()


def test_a_cloud_without_the_image_is_skipped():
    clouds = [
        cloud("first", priority=1, images=frozenset({"other"})),
        cloud("second", priority=2, images=frozenset({"other", "special"})),
    ]
    decision = decide([group(image="special")], clouds, [], PLENTY)
    assert booted(decision) == [("second", "small", "special", "a")]


def test_the_cloud_default_image_serves_jobs_that_ask_for_none():
    clouds = [
        cloud("first", priority=1, default_image=""),  # no default: cannot serve these jobs
        cloud("second", priority=2, default_image="worker"),
    ]
    decision = decide([group()], clouds, [], PLENTY)
    assert booted(decision) == [("second", "small", "worker", "a")]


def test_an_image_on_no_cloud_is_refused():
    decision = decide([group(image="special", count=4)], [cloud(), cloud("c2")], [], PLENTY)
    assert decision.boots == []
    assert decision.refusals == Counter({"image not in cloud": 4})


def test_a_backed_off_flavor_and_image_is_not_booted_there():
    clouds = [
        cloud("first", priority=1, backoffs=frozenset({("small", "worker")})),
        cloud("second", priority=2),
    ]
    decision = decide([group(count=2)], clouds, [], PLENTY)
    assert booted(decision) == [("second", "small", "worker", "a")] * 2
    # The back-off is for that flavor and image only: other jobs still go there.
    other = decide([group(image="other")], [cloud("first", priority=1,
                   images=frozenset({"worker", "other"}),
                   backoffs=frozenset({("small", "worker")}))], [], PLENTY)  # fmt: skip
    assert booted(other) == [("first", "small", "other", "a")]


def test_backed_off_everywhere_is_the_refusal():
    backed = frozenset({("small", "worker")})
    decision = decide([group(count=3)], [cloud(backoffs=backed)], [], PLENTY)
    assert decision.boots == []
    assert decision.refusals == Counter({"backed off": 3})


def test_unusable_clouds_get_nothing():
    decision = decide([group(count=2)], [cloud(usable=False)], [], PLENTY)
    assert decision.boots == []
    assert decision.refusals == Counter({"no usable cloud": 2})
    clouds = [cloud("down", priority=1, usable=False), cloud("up", priority=2)]
    assert decide([group()], clouds, [], PLENTY).boots[0].cloud == "up"


# -- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        ({"free_instances": 2}, "quota: instances"),
        ({"free_cores": 5}, "quota: cores"),  # 2 medium VMs take 4 of 5 cores; 1 left
        ({"free_ram_mb": 5999}, "quota: memory"),  # 2 medium VMs take 4000 of 5999 MB
        ({"starting_slots": 2}, "throttle: VMs starting"),
        ({"boots_per_cycle": 2}, "throttle: boots per cycle"),
    ],
)
def test_each_limit_stops_the_boots_and_is_the_refusal(limit, reason):
    decision = decide([group(cores=2, count=5)], [cloud(**limit)], [], PLENTY)
    assert booted(decision) == [("c1", "medium", "worker", "a")] * 2
    assert decision.refusals == Counter({reason: 3})


def test_a_limit_already_reached_boots_nothing():
    full = cloud(free_instances=0, starting_slots=-1)  # more starting than allowed: no slot
    decision = decide([group(count=2)], [full], [], PLENTY)
    assert decision.boots == []
    assert decision.refusals == Counter({"throttle: VMs starting": 2})


def test_a_limit_reached_outranks_a_cloud_that_never_fit():
    clouds = [
        cloud("full", priority=1, free_cores=0),
        cloud("imageless", priority=2, images=frozenset()),
        cloud("tiny", priority=3, flavors=(SMALL,)),
    ]
    decision = decide([group(cores=2, count=2)], clouds, [], PLENTY)
    assert decision.refusals == Counter({"quota: cores": 2})


def test_limits_are_counted_across_groups_on_one_cloud():
    c = cloud(free_cores=5)
    decision = decide([group(cores=2), group(account="b", cores=4)], [c], [], PLENTY)
    # Equal shares go to the last name: "b" takes 4 cores; 1 left, too few for "a"'s 2.
    assert booted(decision) == [("c1", "large", "worker", "b")]
    assert decision.refusals == Counter({"quota: cores": 1})


# -- allocations and shares --------------------------------------------------------------


def test_an_account_with_its_allocation_spent_gets_no_vm():
    groups = [group("spent", count=2), group("negative", count=1), group("absent", count=4),
              group("ok", count=1)]  # fmt: skip
    remaining = {"spent": Decimal(0), "negative": Decimal("-3.5"), "ok": Decimal(1)}
    decision = decide(groups, [cloud()], [], remaining)
    assert booted(decision) == [("c1", "small", "worker", "ok")]
    assert decision.refusals == Counter({"allocation spent": 7})
    assert decision.shortfall == {group_key(g): g.count for g in groups}


def test_boots_are_shared_by_remaining_allocation():
    groups = [group("a", count=10), group("b", count=10)]
    remaining = {"a": Decimal(300), "b": Decimal(100)}
    decision = decide(groups, [cloud(boots_per_cycle=4)], [], remaining)
    # a 300 > b 100; a 150 > 100; a 100 = b 100, b has had fewer; a 100 > b 50.
    assert [b.account for b in decision.boots] == ["a", "a", "b", "a"]
    assert decision.boots_by("account") == Counter({"a": 3, "b": 1})
    assert decision.refusals == Counter({"throttle: boots per cycle": 16})


def test_unaccounted_accounts_have_no_limit_and_come_first():
    groups = [group("free", count=2), group("paying", count=3)]
    remaining = {"free": None, "paying": Decimal(1_000_000)}
    decision = decide(groups, [cloud(starting_slots=3)], [], remaining)
    assert [b.account for b in decision.boots] == ["free", "free", "paying"]
    assert decision.refusals == Counter({"throttle: VMs starting": 2})


def test_an_account_takes_its_own_biggest_shortfall_first():
    small, big = group(count=1), group(cores=2, count=3)
    decision = decide([small, big], [cloud(boots_per_cycle=2)], [], {"a": Decimal(5)})
    assert [b.group for b in decision.boots] == [group_key(big), group_key(big)]
    # The third pick is still "big" (1 left = small's 1, the larger key): refused, then "small".
    assert decision.refusals == Counter({"throttle: boots per cycle": 2})


def test_a_boot_records_what_was_decided():
    g = group(cores=2, memory_mb=1500, image="worker", account="proj")
    (boot,) = decide([g], [cloud()], [], {"proj": Decimal(2)}).boots
    assert boot == Boot("c1", "medium", "worker", group_key(g), "proj", 2, 2000)


# -- what the cycle feeds it: services.cloud_views -----------------------------------------


@pytest.fixture
def seen_cloud(burst_site):
    """nimbus as a refresh would leave it: two flavors, the worker image, a quota."""
    brecca, cloud_row = burst_site
    CloudState.objects.create(
        cloud=cloud_row,
        health=Health.HEALTHY,
        quota_read_at=timezone.now(),
        quota={"instances": 10, "cores": 20, "ram_mb": 20000,
               "others": {"instances": 1, "cores": 2, "ram_mb": 3000}},
    )  # fmt: skip
    small = Flavor.objects.create(cloud=cloud_row, name="s", ext_id="s", cores=1, ram_mb=1000)
    Flavor.objects.create(cloud=cloud_row, name="m", ext_id="m", cores=2, ram_mb=2000)
    CloudImage.objects.create(cloud=cloud_row, name="burst-worker", ext_id="i1", status="active")
    CloudImage.objects.create(cloud=cloud_row, name="queued", ext_id="i2", status="queued")
    for name, state in (("burst1", "requested"), ("burst2", "booting"), ("burst3", "busy"),
                        ("burst4", "abandoned"), ("burst5", "deleted")):  # fmt: skip
        VM.objects.create(name=name, cloud=cloud_row, batch=brecca, flavor=small,
                          image="burst-worker", cores=1, ram_mb=1000, state=state)  # fmt: skip
    return brecca, cloud_row


@pytest.mark.django_db
def test_cloud_views_net_the_quota_of_other_servers_and_of_our_live_vms(seen_cloud):
    brecca, cloud_row = seen_cloud
    (view,) = services.cloud_views(brecca, [cloud_row])
    # 3 live VMs of 1 core / 1000 MB (abandoned and deleted ones are counted out).
    assert (view.free_instances, view.free_cores, view.free_ram_mb) == (
        10 - 1 - 3,
        20 - 2 - 3,
        20000 - 3000 - 3000,
    )
    assert view.starting_slots == 3 - 2  # max_starting 3, one requested and one booting
    assert view.boots_per_cycle == 10
    assert view.usable is True
    assert view.images == frozenset({"burst-worker"})  # a queued image cannot boot yet
    assert view.flavors == [FlavorView("s", 1, 1000), FlavorView("m", 2, 2000)]
    assert view.backoffs == frozenset()


@pytest.mark.django_db
def test_cloud_views_site_caps_bind_when_lower_than_the_quota(seen_cloud):
    brecca, cloud_row = seen_cloud
    cloud_row.max_instances, cloud_row.max_cores, cloud_row.max_ram_mb = 4, 30, 5000
    cloud_row.max_boots_per_cycle = 2
    cloud_row.save()
    (view,) = services.cloud_views(brecca, [cloud_row])
    assert view.free_instances == 4 - 3  # the cap, not the quota's 6
    assert view.free_cores == 15  # the quota's 20 - 2 - 3 is lower than the cap's 30 - 3
    assert view.free_ram_mb == 5000 - 3000
    assert view.boots_per_cycle == 2


@pytest.mark.django_db
def test_cloud_views_without_a_quota_limit_leave_only_the_caps(seen_cloud):
    brecca, cloud_row = seen_cloud
    CloudState.objects.filter(cloud=cloud_row).update(quota={}, quota_read_at=timezone.now())
    cloud_row.state.refresh_from_db()
    (view,) = services.cloud_views(brecca, [cloud_row])
    assert (view.free_instances, view.free_cores, view.free_ram_mb) == (None, None, None)
    cloud_row.max_cores = 2
    cloud_row.save()
    (view,) = services.cloud_views(brecca, [cloud_row])
    assert view.free_cores == 2 - 3  # over the cap already: no room


@pytest.mark.django_db
def test_cloud_views_unusable_when_unhealthy_disabled_or_never_read(seen_cloud):
    brecca, cloud_row = seen_cloud
    CloudState.objects.filter(cloud=cloud_row).update(health=Health.UNHEALTHY)
    cloud_row.state.refresh_from_db()
    assert services.cloud_views(brecca, [cloud_row])[0].usable is False
    CloudState.objects.filter(cloud=cloud_row).update(health=Health.HEALTHY, quota_read_at=None)
    cloud_row.state.refresh_from_db()
    assert services.cloud_views(brecca, [cloud_row])[0].usable is False
    CloudState.objects.filter(cloud=cloud_row).update(quota_read_at=timezone.now())
    cloud_row.state.refresh_from_db()
    cloud_row.enabled = False
    assert services.cloud_views(brecca, [cloud_row])[0].usable is False


@pytest.mark.django_db
def test_cloud_views_back_offs_only_until_they_expire_and_disabled_flavors_left_out(seen_cloud):
    brecca, cloud_row = seen_cloud
    now = timezone.now()
    Backoff.objects.create(cloud=cloud_row, flavor="s", image="burst-worker",
                           until=now + timedelta(minutes=2))  # fmt: skip
    Backoff.objects.create(cloud=cloud_row, flavor="m", image="burst-worker",
                           until=now - timedelta(seconds=1))  # fmt: skip
    Flavor.objects.filter(cloud=cloud_row, name="m").update(enabled=False)
    (view,) = services.cloud_views(brecca, [cloud_row])
    assert view.backoffs == frozenset({("s", "burst-worker")})
    assert view.flavors == [FlavorView("s", 1, 1000)]
