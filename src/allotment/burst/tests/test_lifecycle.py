"""The VM and room rules the agent and the simulator share (burst.lifecycle), case by case
at their edges."""

from datetime import timedelta
from decimal import Decimal

import pytest

from allotment.burst import lifecycle
from allotment.burst.demand import FlavorView
from allotment.burst.simulation import SimCloud


def test_a_boot_times_out_only_past_the_timeout():
    assert lifecycle.boot_timed_out(900, 900) is False
    assert lifecycle.boot_timed_out(900.5, 900) is True


def test_a_registration_times_out_only_past_the_timeout():
    assert lifecycle.registration_timed_out(300, 300) is False
    assert lifecycle.registration_timed_out(301, 300) is True


def test_a_server_the_cloud_does_not_list_is_lost_after_the_grace():
    assert lifecycle.server_lost(60) is False
    assert lifecycle.server_lost(61) is True


def never_asked() -> int:
    raise AssertionError("the count of newer idle VMs was asked without headroom")


@pytest.mark.parametrize(
    ("idle_s", "keep", "expected"),
    [(None, 0, False), (599.9, 600, False), (600, 600, True), (0, 0, True)],
)
def test_an_idle_vm_without_headroom_is_retired_once_kept_long_enough(idle_s, keep, expected):
    assert lifecycle.idle_to_retire(idle_s, keep, 0, never_asked) is expected


@pytest.mark.parametrize(("newer", "expected"), [(0, False), (1, False), (2, True), (5, True)])
def test_headroom_keeps_the_most_recently_idle_vms(newer, expected):
    assert lifecycle.idle_to_retire(700, 600, 2, lambda: newer) is expected


def test_headroom_is_not_counted_before_the_idle_time_is_up():
    assert lifecycle.idle_to_retire(10, 600, 2, never_asked) is False


def test_the_reason_to_retire_an_operator_first_then_a_disabled_cloud_then_idleness():
    both = {"cloud": "nimbus", "idle_too_long": True, "idle_keep_s": 600}
    assert lifecycle.retire_reason(asked=True, enabled=False, **both) == "an operator asked"
    assert lifecycle.retire_reason(asked=False, enabled=False, **both) == (
        "cloud nimbus is disabled"
    )
    assert lifecycle.retire_reason(asked=False, enabled=True, **both) == "idle for 600 s"
    assert (
        lifecycle.retire_reason(
            asked=False, enabled=True, cloud="nimbus", idle_too_long=False, idle_keep_s=600
        )
        == ""
    )


def test_back_off_doubles_from_the_base_up_to_the_cap():
    base, cap = timedelta(minutes=2), timedelta(hours=1)
    spans = [lifecycle.backoff_span(n, base, cap) for n in (1, 2, 3, 5, 6, 9)]
    assert [s.total_seconds() for s in spans] == [120, 240, 480, 1920, 3600, 3600]


@pytest.mark.parametrize(
    ("limit", "cap", "ours", "others", "expected"),
    [
        (None, None, 3, 0, None),  # no limit at all
        (10, None, 3, 2, 5),  # the cloud's quota, shared with servers not ours
        (None, 4, 3, 2, 1),  # the site's cap counts only ours
        (10, 4, 3, 2, 1),  # the tighter of the two
        (4, None, 3, 2, -1),  # others took more than the room: below zero
    ],
)
def test_a_clouds_room_is_the_tightest_of_its_quota_and_the_sites_cap(
    limit, cap, ours, others, expected
):
    assert lifecycle.room(limit, cap, ours, others) == expected


def test_a_cloud_view_nets_quota_caps_and_throttles_of_what_is_live():
    cloud = SimCloud(
        name="nimbus",
        flavors=[FlavorView("small", 1, 1000)],
        quota={"instances": 10, "cores": 20, "ram_mb": None},
        priority=3,
        price_per_core_hour=Decimal("0.5"),
        tags=["data:vospace"],
        max_instances=6,
        max_starting=4,
        max_boots_per_cycle=7,
    )
    live = lifecycle.LiveCounts(instances=4, cores=8, ram_mb=4000, starting=3)
    view = lifecycle.cloud_view(
        cloud,
        usable=True,
        flavors=cloud.flavors,
        images=frozenset({"burst-worker"}),
        backoffs=frozenset({("small", "burst-worker")}),
        quota={**cloud.quota, "others": {"instances": 1, "cores": 2}},
        live=live,
    )
    assert (view.name, view.priority, view.price, view.tags) == (
        "nimbus", 3, Decimal("0.5"), frozenset({"data:vospace"})
    )  # fmt: skip
    assert (view.free_instances, view.free_cores, view.free_ram_mb) == (2, 10, None)
    assert (view.starting_slots, view.boots_per_cycle) == (1, 7)
    assert view.backoffs == frozenset({("small", "burst-worker")})
    assert list(view.flavors) == [FlavorView("small", 1, 1000)]
