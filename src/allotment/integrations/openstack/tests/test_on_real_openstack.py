"""NovaHosts against the real loopback cloud: Keystone, Placement, Glance and Nova with fake
hypervisors (cnode1, cnode2, and node9 started and stopped here)."""

import time
from collections import Counter

import pytest

from allotment.integrations.openstack import devcloud
from allotment.integrations.openstack.compute import NovaHosts
from allotment.integrations.openstack.testing import wait_servers, wait_until
from allotment.inventory.engines import REASON_PREFIX

pytestmark = [pytest.mark.openstack, pytest.mark.django_db]

OURS = f"{REASON_PREFIX} 7: node to brecca"


def compute_service(conn, host):
    return next(s for s in conn.compute.services(binary="nova-compute", host=host))


@pytest.fixture
def enabled_again(openstack_conn):
    """Hosts a test disables are enabled again at its end, whatever happened."""
    touched: list[str] = []
    yield touched
    for host in touched:
        service = compute_service(openstack_conn, host)
        if service.status == "disabled":
            openstack_conn.compute.enable_service(service)


def test_drain_disables_the_host_with_the_reason_and_keeps_an_earlier_one(
    tango, openstack_conn, enabled_again
):
    hosts = NovaHosts(tango)
    enabled_again.append("cnode2")
    assert hosts.host("cnode2").known and not hosts.host("cnode2").drained

    hosts.drain("cnode2", OURS)
    state = hosts.host("cnode2")
    assert (state.known, state.up, state.drained, state.reason) == (True, True, True, OURS)
    assert state.drained_by_us
    service = compute_service(openstack_conn, "cnode2")
    assert (service.status, service.disabled_reason) == ("disabled", OURS)
    assert "disabled" in hosts.health("cnode2") and OURS in hosts.health("cnode2")

    hosts.drain("cnode2", f"{REASON_PREFIX} 8: another shift")
    assert hosts.host("cnode2").reason == OURS

    hosts.resume("cnode2")
    assert not hosts.host("cnode2").drained
    assert hosts.health("cnode2") == ""


def test_resume_leaves_a_host_someone_else_disabled(tango, openstack_conn, enabled_again):
    hosts = NovaHosts(tango)
    enabled_again.append("cnode2")
    service = compute_service(openstack_conn, "cnode2")
    openstack_conn.compute.disable_service(service, disabled_reason="ops: firmware update")

    hosts.resume("cnode2")
    hosts.drain("cnode2", OURS)  # already drained: left as it is

    state = hosts.host("cnode2")
    assert state.drained and not state.drained_by_us
    assert state.reason == "ops: firmware update"
    assert "ops: firmware update" in hosts.health("cnode2")


def test_evacuate_moves_every_server_off_a_drained_host(tango, openstack_conn, boot, enabled_again):
    hosts = NovaHosts(tango)
    compute = openstack_conn.compute
    active = boot("cnode1", 3, prefix="live")
    stopped = boot("cnode1", 1, prefix="cold")[0]
    elsewhere = boot("cnode2", 1, prefix="stay")[0]
    compute.stop_server(stopped)
    wait_servers(openstack_conn, [stopped], lambda s: s.status == "SHUTOFF", "SHUTOFF")
    assert {w.id for w in hosts.workload("cnode1")} == {*active, stopped}

    enabled_again.append("cnode1")
    hosts.drain("cnode1", OURS)
    asked: Counter[str] = Counter()
    seen: dict[str, set[str]] = {}
    began = time.monotonic()
    while True:
        work = hosts.workload("cnode1")
        for w in work:
            seen.setdefault(w.id, set()).add(w.state)
        if not work:
            break
        outcome = hosts.evacuate("cnode1", force=False)
        assert not outcome.refused, outcome.refused
        asked.update(outcome.started)
        assert time.monotonic() - began < 120, f"still on cnode1: {work}"
        time.sleep(0.5)

    # Each server was asked once (the stopped one: cold migration, then its confirmation),
    # never again while it moved.
    assert asked == Counter({**dict.fromkeys(active, 1), stopped: 2})
    assert "VERIFY_RESIZE" in seen[stopped]
    final = wait_servers(openstack_conn, [*active, stopped, elsewhere],
                         lambda s: s.task_state is None, "settled")  # fmt: skip
    assert {(final[i].status, final[i].compute_host) for i in active} == {("ACTIVE", "cnode2")}
    assert (final[stopped].status, final[stopped].compute_host) == ("SHUTOFF", "cnode2")
    assert (final[elsewhere].status, final[elsewhere].compute_host) == ("ACTIVE", "cnode2")
    kinds = {m.server_id: m.migration_type for m in compute.migrations(source_compute="cnode1")
             if m.server_id in (*active, stopped)}  # fmt: skip
    assert kinds == {**dict.fromkeys(active, "live-migration"), stopped: "migration"}


def test_evacuate_reports_what_nova_cannot_move(tango, openstack_conn, boot, enabled_again):
    hosts = NovaHosts(tango)
    compute = openstack_conn.compute
    server = boot("cnode1", 1, prefix="stuck")[0]
    for service in compute.services(binary="nova-compute"):
        if service.host != "cnode1" and service.status == "enabled":
            enabled_again.append(service.host)
            compute.disable_service(service, disabled_reason="test: nowhere to go")
    enabled_again.append("cnode1")
    hosts.drain("cnode1", OURS)

    # Live migration is refused at once (no valid host); the cold migration asked instead
    # fails in the conductor, and the next call reports it with Nova's reason.
    def refused():
        outcome = hosts.evacuate("cnode1", force=True)
        return outcome.refused.get(server)

    reason = wait_until(refused, "the evacuation reports the server refused", timeout=60)
    assert "No valid host" in reason, reason
    assert "cold migration" in reason, reason
    assert [w.id for w in hosts.workload("cnode1")] == [server]
    assert (compute.get_server(server).status, compute.get_server(server).compute_host) == (
        "ACTIVE",
        "cnode1",
    )


def test_a_new_host_joins_and_leaves_the_cloud(tango, openstack_conn):
    hosts = NovaHosts(tango)
    assert not hosts.host("node9").known
    assert "no nova-compute service" in hosts.health("node9")

    identities = []
    for _ in range(2):  # the second join registers a new hypervisor, not the old record
        hosts.start("node9")
        hosts.start("node9")  # idempotent: one nova-compute
        assert devcloud.computes().count("node9") == 1
        wait_until(lambda: hosts.health("node9") == "", "node9 healthy", timeout=90)
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
