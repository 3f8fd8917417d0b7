"""NovaHosts against the real loopback cloud: Keystone, Placement, Glance and Nova with fake
hypervisors. Draining and evacuating act on a hypervisor of the session's own (spare_host),
so that other sessions can use cnode1 and cnode2 meanwhile; node9 joins and leaves here."""

import time
from collections import Counter

import pytest

from allotment.integrations.openstack import devcloud
from allotment.integrations.openstack.compute import NovaHosts
from allotment.integrations.openstack.testing import wait_servers, wait_until
from allotment.inventory.engines import REASON_PREFIX, EngineError

pytestmark = [pytest.mark.openstack, pytest.mark.django_db]

OURS = f"{REASON_PREFIX} 7: node to brecca"


def compute_service(conn, host):
    return next(s for s in conn.compute.services(binary="nova-compute", host=host))


@pytest.fixture
def spare(spare_host, openstack_conn):
    """The session's own hypervisor, enabled again at the end of the test whatever happened."""
    yield spare_host
    service = compute_service(openstack_conn, spare_host)
    if service.status == "disabled":
        openstack_conn.compute.enable_service(service)


def healthy(hosts, name: str) -> bool:
    """The health gate as the agent reads it: an answer the cloud could not give in time
    (a temporary EngineError: nova-api is slow while a compute registers, on 2 cores) is
    "not yet", and the agent asks again on its next tick."""
    try:
        return hosts.health(name) == ""
    except EngineError as e:
        if e.permanent:
            raise
        return False


def test_drain_disables_the_host_with_the_reason_and_keeps_an_earlier_one(
    tango, openstack_conn, spare
):
    hosts = NovaHosts(tango)
    assert hosts.host(spare).known and not hosts.host(spare).drained

    hosts.drain(spare, OURS)
    state = hosts.host(spare)
    assert (state.known, state.up, state.drained, state.reason) == (True, True, True, OURS)
    assert state.drained_by_us
    service = compute_service(openstack_conn, spare)
    assert (service.status, service.disabled_reason) == ("disabled", OURS)
    assert "disabled" in hosts.health(spare) and OURS in hosts.health(spare)

    hosts.drain(spare, f"{REASON_PREFIX} 8: another shift")
    assert hosts.host(spare).reason == OURS

    hosts.resume(spare)
    assert not hosts.host(spare).drained
    assert hosts.health(spare) == ""


def test_resume_leaves_a_host_someone_else_disabled(tango, openstack_conn, spare):
    hosts = NovaHosts(tango)
    service = compute_service(openstack_conn, spare)
    openstack_conn.compute.disable_service(service, disabled_reason="ops: firmware update")

    hosts.resume(spare)
    hosts.drain(spare, OURS)  # already drained: left as it is

    state = hosts.host(spare)
    assert state.drained and not state.drained_by_us
    assert state.reason == "ops: firmware update"
    assert "ops: firmware update" in hosts.health(spare)


def test_evacuate_moves_every_server_off_a_drained_host(tango, openstack_conn, boot, spare):
    hosts = NovaHosts(tango)
    compute = openstack_conn.compute
    active = boot(spare, 3, prefix="live")
    stopped = boot(spare, 1, prefix="cold")[0]
    elsewhere = boot("cnode2", 1, prefix="stay")[0]
    compute.stop_server(stopped)
    wait_servers(openstack_conn, [stopped], lambda s: s.status == "SHUTOFF", "SHUTOFF")
    assert {w.id for w in hosts.workload(spare)} == {*active, stopped}

    hosts.drain(spare, OURS)
    asked: Counter[str] = Counter()
    seen: dict[str, set[str]] = {}
    began = time.monotonic()
    while True:
        work = hosts.workload(spare)
        for w in work:
            seen.setdefault(w.id, set()).add(w.state)
        if not work:
            break
        outcome = hosts.evacuate(spare, force=False)
        assert not outcome.refused, outcome.refused
        asked.update(outcome.started)
        assert time.monotonic() - began < 120, f"still on {spare}: {work}"
        time.sleep(0.5)

    # Each server was asked once (the stopped one: cold migration, then its confirmation),
    # never again while it moved.
    assert asked == Counter({**dict.fromkeys(active, 1), stopped: 2})
    assert "VERIFY_RESIZE" in seen[stopped]
    final = wait_servers(openstack_conn, [*active, stopped, elsewhere],
                         lambda s: s.task_state is None, "settled")  # fmt: skip
    assert {final[i].status for i in active} == {"ACTIVE"}
    assert final[stopped].status == "SHUTOFF"
    assert spare not in {final[i].compute_host for i in (*active, stopped)}
    assert (final[elsewhere].status, final[elsewhere].compute_host) == ("ACTIVE", "cnode2")
    kinds = {m.server_id: m.migration_type for m in compute.migrations(source_compute=spare)
             if m.server_id in (*active, stopped)}  # fmt: skip
    assert kinds == {**dict.fromkeys(active, "live-migration"), stopped: "migration"}


def test_evacuate_reports_what_nova_cannot_move(tango, openstack_conn, boot, spare):
    """Servers of an affinity group must stay together, so the scheduler finds no other host
    for either: live migration is refused at once, the cold migration asked instead fails in
    the conductor, and the next call reports both with Nova's reason. force moves nothing."""
    hosts = NovaHosts(tango)
    compute = openstack_conn.compute
    group = compute.create_server_group(name="allot-test-together", policy="affinity")
    try:
        together = boot(spare, 2, prefix="together", scheduler_hints={"group": group.id})
        hosts.drain(spare, OURS)

        def refused():
            outcome = hosts.evacuate(spare, force=True)
            return len(outcome.refused) == 2 and outcome.refused

        reasons = wait_until(refused, "the evacuation reports both servers refused", timeout=60)
        assert set(reasons) == set(together)
        for reason in reasons.values():
            assert "No valid host" in reason and "cold migration" in reason, reason
        assert {w.id for w in hosts.workload(spare)} == set(together)
        assert {(compute.get_server(s).status, compute.get_server(s).compute_host)
                for s in together} == {("ACTIVE", spare)}  # fmt: skip
    finally:  # Nova deletes a group with members; the servers go with the test
        compute.delete_server_group(group)


def test_a_new_host_joins_and_leaves_the_cloud(tango, openstack_conn):
    hosts = NovaHosts(tango)
    assert not hosts.host("node9").known
    assert "no nova-compute service" in hosts.health("node9")

    identities = []
    for _ in range(2):  # the second join registers a new hypervisor, not the old record
        hosts.start("node9")
        hosts.start("node9")  # idempotent: one nova-compute
        assert devcloud.computes().count("node9") == 1
        wait_until(lambda: healthy(hosts, "node9"), "node9 healthy", timeout=90)
        state = hosts.host("node9")
        assert (state.known, state.up, state.drained) == (True, True, False)
        hypervisor = next(openstack_conn.compute.hypervisors(hypervisor_hostname_pattern="node9"))
        identities.append(hypervisor.id)

        def gone():
            hosts.stop("node9")
            return not hosts.host("node9").known

        wait_until(gone, "node9's compute service deleted", timeout=90)
        assert not devcloud.compute_running("node9")
        assert "no nova-compute service" in hosts.health("node9")
        providers = list(openstack_conn.placement.resource_providers(name="node9"))
        assert providers == []
        hosts.stop("node9")  # idempotent
    assert identities[0] != identities[1]
