"""NovaHosts' decisions against a scripted Nova: what it asks for each server, what it leaves
alone, what it reports refused, and how errors become EngineErrors. No cloud needed; the same
paths run against the real one in test_on_real_openstack."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests
from openstack import exceptions as sdk

from allotment.integrations.openstack.compute import NovaHosts
from allotment.inventory.engines import REASON_PREFIX, EngineError

NOW = datetime.now(UTC).isoformat()


def refusal(code: int, said: str) -> sdk.HttpException:
    response = requests.Response()
    response.status_code = code
    return sdk.HttpException(message=said, response=response, details=said)


def server(sid, status="ACTIVE", task=None, host="h1"):
    return SimpleNamespace(id=sid, name=sid, status=status, task_state=task, compute_host=host)


def migration(mid, sid, status, kind, source="h1"):
    return SimpleNamespace(id=mid, server_id=sid, status=status, migration_type=kind,
                           source_compute=source)  # fmt: skip


class ScriptedCompute:
    """The compute proxy calls NovaHosts makes, answered from lists; every request recorded."""

    def __init__(self, servers=(), migrations=(), services=(), live=None, cold=None, said=""):
        self._servers = list(servers)
        self._migrations = list(migrations)
        self._services = list(services)
        self.live_refusal, self.cold_refusal = live, cold
        self.said = said  # the instance action's event details
        self.asked: list[tuple[str, str]] = []

    def services(self, binary, host):
        return iter([s for s in self._services if s.host == host])

    def servers(self, details, all_projects, compute_host):
        return iter([s for s in self._servers if s.compute_host == compute_host])

    def migrations(self, source_compute, status=None, changes_since=None):
        return iter([m for m in self._migrations if m.source_compute == source_compute
                     and (status is None or m.status == status)])  # fmt: skip

    def get_server(self, sid):
        return next(s for s in self._servers if s.id == sid)

    def live_migrate_server(self, s, host=None, block_migration=None):
        assert (host, block_migration) == (None, "auto")
        self.asked.append(("live", s.id))
        if self.live_refusal:
            raise self.live_refusal

    def migrate_server(self, s):
        self.asked.append(("cold", s.id))
        if self.cold_refusal:
            raise self.cold_refusal

    def confirm_server_resize(self, s):
        self.asked.append(("confirm", s.id))

    def disable_service(self, s, disabled_reason):
        self.asked.append(("disable", disabled_reason))

    def enable_service(self, s):
        self.asked.append(("enable", s.host))

    def server_actions(self, s):
        return [SimpleNamespace(action="migrate", request_id="req-1", start_time=NOW)]

    def get_server_action(self, request_id, s):
        event = SimpleNamespace(details=self.said)
        return SimpleNamespace(events=[event], message="Error")


def hosts_over(compute) -> NovaHosts:
    machine = SimpleNamespace(engine_options={"cloud": "tango"})
    return NovaHosts(machine, conn=SimpleNamespace(compute=compute))


def test_each_server_is_asked_the_move_its_state_allows_and_moving_ones_are_left():
    compute = ScriptedCompute(
        servers=[
            server("active"),
            server("paused", status="PAUSED"),
            server("off", status="SHUTOFF"),
            server("going", status="MIGRATING", task="migrating"),
            server("resizing", status="RESIZE", task="resize_migrating"),
            server("elsewhere", host="h2"),
            server("landed", status="VERIFY_RESIZE", host="h2"),
        ],
        migrations=[migration(1, "landed", "finished", "migration")],
    )
    outcome = hosts_over(compute).evacuate("h1", force=False)

    assert compute.asked == [
        ("live", "active"),
        ("live", "paused"),
        ("cold", "off"),
        ("confirm", "landed"),
    ]
    assert outcome.started == ["active", "paused", "off", "landed"]
    assert outcome.refused == {}


def test_the_workload_counts_resizes_off_the_host_awaiting_confirmation():
    compute = ScriptedCompute(
        servers=[server("here"), server("landed", status="VERIFY_RESIZE", host="h2")],
        migrations=[migration(1, "landed", "finished", "migration")],
    )
    work = hosts_over(compute).workload("h1")
    assert [(w.id, w.state) for w in work] == [("here", "ACTIVE"), ("landed", "VERIFY_RESIZE")]
    assert work[1].detail == "resized to h2, awaiting confirmation"


def test_a_live_migration_refused_falls_back_to_cold_and_both_refusals_are_reported():
    compute = ScriptedCompute(
        servers=[server("s1")],
        live=refusal(400, "No valid host was found."),
        cold=refusal(409, "Cannot 'migrate' instance s1 while it is in vm_state error"),
    )
    outcome = hosts_over(compute).evacuate("h1", force=True)
    assert compute.asked == [("live", "s1"), ("cold", "s1")]
    assert outcome.started == []
    assert outcome.refused == {
        "s1": "live migration refused: No valid host was found.; cold migration refused: "
        "Cannot 'migrate' instance s1 while it is in vm_state error"
    }


def test_a_recent_failed_cold_migration_is_reported_not_asked_again():
    compute = ScriptedCompute(
        servers=[server("s1")],
        migrations=[
            migration(1, "s1", "error", "live-migration"),
            migration(2, "s1", "error", "migration"),
        ],
        said="No valid host was found. ",
    )
    outcome = hosts_over(compute).evacuate("h1", force=False)
    assert compute.asked == []
    assert "cold migration off the host failed: No valid host was found." in outcome.refused["s1"]


def test_a_recent_failed_live_migration_is_followed_by_a_cold_one():
    compute = ScriptedCompute(
        servers=[server("s1")], migrations=[migration(4, "s1", "failed", "live-migration")]
    )
    outcome = hosts_over(compute).evacuate("h1", force=False)
    assert compute.asked == [("cold", "s1")]
    assert outcome.started == ["s1"]


def test_a_server_error_from_nova_fails_the_call_for_a_retry():
    compute = ScriptedCompute(servers=[server("s1")], live=refusal(503, "Service Unavailable"))
    with pytest.raises(EngineError) as failed:
        hosts_over(compute).evacuate("h1", force=False)
    assert not failed.value.permanent
    assert str(failed.value).startswith("OpenStack cloud tango: evacuating for host h1 failed")


def service(host, status="enabled", reason=None, state="up"):
    return SimpleNamespace(host=host, status=status, disabled_reason=reason, state=state,
                           is_forced_down=False, updated_at=NOW)  # fmt: skip


def test_drain_keeps_anyones_reason_and_resume_enables_only_a_shifts_drain():
    ours = f"{REASON_PREFIX} 3"
    compute = ScriptedCompute(
        services=[
            service("free"),
            service("by-ops", "disabled", "ops: firmware"),
            service("by-us", "disabled", ours),
            service("no-reason", "disabled", None),
        ]
    )
    hosts = hosts_over(compute)
    for host in ("free", "by-ops", "by-us", "no-reason"):
        hosts.drain(host, f"{REASON_PREFIX} 4")
        hosts.resume(host)
    hosts.resume("unknown")  # nothing to enable: health says why
    assert compute.asked == [("disable", f"{REASON_PREFIX} 4"), ("enable", "by-us")]
    state = hosts.host("no-reason")
    assert (state.drained, state.reason, state.drained_by_us) == (True, "", False)
    assert hosts.host("unknown").known is False


def test_draining_an_unknown_host_is_a_permanent_error_naming_it():
    with pytest.raises(EngineError) as failed:
        hosts_over(ScriptedCompute()).drain("ghost", f"{REASON_PREFIX} 1")
    assert failed.value.permanent
    assert "no nova-compute service for host ghost" in str(failed.value)


def test_health_says_why_a_host_is_not_fit():
    compute = ScriptedCompute(
        services=[service("down", state="down"), service("off", "disabled", "ops: disk")]
    )
    hosts = hosts_over(compute)
    assert "not registered yet" in hosts.health("none")
    assert "nova-compute on down is down" in hosts.health("down")
    assert (
        hosts.health("off")
        == "nova-compute on off is disabled in OpenStack cloud tango: ops: disk."
    )
