"""The one way a stateful object moves: declared events, a history row, deadlines, operator
actions and recovery after an agent died, through a test-only model (fsm_examples.Server)."""

from datetime import timedelta

import pytest
from auditlog.context import set_extra_data
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from allotment.core import fsm
from allotment.core.fsm import Action, Observed, TransitionRefused
from allotment.core.tests.fsm_examples import NodeStates, Server, VMStates, table


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    with table(django_db_blocker) as model:
        yield model


@pytest.fixture
def server(servers, db):
    """A node ready to be provisioned."""
    node = Server.objects.create(name="n1")
    fsm.move(node, NodeStates.inspect)
    return node


def fields(obj) -> tuple:
    obj.refresh_from_db()
    return obj.state, obj.target_state, obj.last_error, obj.step, obj.step_owner


def moves(obj) -> list[tuple[str, str, str, str]]:
    return [(c.from_state, c.to_state, c.event, c.reason) for c in fsm.history(obj)]


def test_a_new_object_starts_in_the_declared_initial_state(servers, db):
    node = Server.objects.create(name="fresh")
    assert fields(node) == ("enrolled", "", "", "", "")
    assert moves(node) == []


def test_a_move_records_the_state_its_target_and_a_history_row(server):
    change = fsm.move(server, NodeStates.provision, reason="wanted by OpenStack", via="cli")
    assert fields(server) == ("provisioning", "in_service", "", "", "")
    assert server.state_changed_at == change.at
    assert moves(server) == [
        ("enrolled", "available", "inspect", ""),
        ("available", "provisioning", "provision", "wanted by OpenStack"),
    ]
    assert (change.content_type, change.object_id) == (
        ContentType.objects.get_for_model(Server),
        server.pk,
    )
    assert (change.via, change.actor) == ("cli", None)
    assert fsm.deadline(server) == change.at + timedelta(minutes=30)


def test_a_move_not_declared_from_the_current_state_is_refused_and_changes_nothing(server):
    with pytest.raises(TransitionRefused) as refused:
        fsm.move(server, NodeStates.joined)
    assert refused.value.messages == [
        'server "n1" is available; "joined" is allowed only from joining.'
    ]
    assert fields(server) == ("available", "", "", "", "")
    assert len(moves(server)) == 1


def test_the_check_reads_the_locked_row_not_the_callers_stale_copy(server):
    stale = Server.objects.get(pk=server.pk)
    fsm.move(server, NodeStates.provision)
    with pytest.raises(TransitionRefused) as refused:
        fsm.move(stale, NodeStates.provision)
    assert refused.value.messages == [
        'server "n1" is provisioning (heading for in_service); '
        '"provision" is allowed only from available.'
    ]
    assert [m[2] for m in moves(server)] == ["inspect", "provision"]


def test_an_event_the_machine_does_not_declare_is_a_programming_error(server):
    with pytest.raises(ValueError, match="NodeStates declares no event 'booted'"):
        fsm.move(server, VMStates.booted)


def test_entering_a_failed_state_needs_a_reason_and_records_it_as_the_last_error(server):
    fsm.move(server, NodeStates.provision)
    with pytest.raises(ValueError, match="needs a reason"):
        fsm.move(server, fsm.System.FAIL)
    fsm.move(server, fsm.System.FAIL, reason="ironic: deploy failed on disk sda")
    assert fields(server) == (
        "provision_failed", "in_service", "ironic: deploy failed on disk sda", "", ""
    )  # fmt: skip
    assert fsm.actions(server) == [Action.RETRY, Action.ABORT]


def test_the_sweep_fails_a_transitional_state_past_its_deadline_with_an_actionable_reason(
    server,
):
    fsm.move(server, NodeStates.provision)
    on_time = Server.objects.create(name="n2")
    fsm.move(on_time, NodeStates.inspect)
    fsm.move(on_time, NodeStates.provision)
    Server.objects.filter(pk=server.pk).update(
        state_changed_at=timezone.now() - timedelta(minutes=31)
    )
    changes = fsm.sweep(Server)
    reason = "provisioning took longer than 30 min; retry or abort"
    assert [(c.object_id, c.event, c.reason) for c in changes] == [(server.pk, "timeout", reason)]
    assert fields(server) == ("provision_failed", "in_service", reason, "", "")
    assert fields(on_time) == ("provisioning", "in_service", "", "", "")
    assert fsm.sweep(Server) == []


def test_the_sweep_reason_lists_every_action_the_failed_state_offers(servers, db):
    node = Server.objects.create(name="d1")
    for event in (NodeStates.inspect, NodeStates.provision, NodeStates.provisioned):
        fsm.move(node, event)
    fsm.move(node, NodeStates.joined)
    fsm.move(node, NodeStates.drain)
    fsm.sweep(Server, now=timezone.now() + timedelta(hours=2, seconds=1))
    assert fields(node)[:3] == (
        "drain_timeout", "drained", "draining took longer than 2 h; retry, force or abort"
    )  # fmt: skip


def test_retry_goes_back_to_the_transitional_state_and_abort_to_a_stable_one(server):
    fsm.move(server, NodeStates.provision)
    fsm.move(server, fsm.System.FAIL, reason="no image")
    fsm.move(server, Action.RETRY, reason="image uploaded")
    assert fields(server) == ("provisioning", "in_service", "no image", "", "")
    fsm.move(server, fsm.System.FAIL, reason="no image again")
    fsm.move(server, Action.ABORT)
    assert fields(server) == ("available", "", "", "", "")
    assert [m[2] for m in moves(server)][1:] == ["provision", "fail", "retry", "fail", "abort"]


def test_an_operator_action_on_an_object_that_has_not_failed_is_refused(server):
    with pytest.raises(TransitionRefused) as refused:
        fsm.move(server, Action.RETRY)
    assert refused.value.messages == [
        'server "n1" is available; "retry" is allowed only from drain_timeout, join_failed, '
        "leave_failed, provision_failed."
    ]
    assert fsm.actions(server) == []


def test_a_move_names_the_actor_and_channel_of_the_audit_context(server, example):
    bob = example.people["bob"]
    with set_extra_data({"actor": bob, "additional_data": {"via": "agent", "loop": "shift"}}):
        change = fsm.move(server, NodeStates.provision)
    assert (change.actor, change.via) == (bob, "agent")


def test_the_objects_own_change_reaches_the_audit_log(server, example):
    auditlog.register(Server)
    try:
        with set_extra_data({"actor": example.people["bob"]}):
            fsm.move(server, NodeStates.provision)
    finally:
        auditlog.unregister(Server)
    entry = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Server), object_pk=str(server.pk)
    ).latest("id")
    assert entry.actor == example.people["bob"]
    assert entry.changes_dict["state"] == ["available", "provisioning"]
    assert entry.changes_dict["target_state"] == ["", "in_service"]


def inside_step(node, step: str = "deploy", owner: str = "agent-a") -> Server:
    fsm.move(node, NodeStates.provision)
    fsm.begin_step(node, step, owner)
    return node


def test_a_step_cut_short_is_failed_on_recovery_when_nothing_can_observe_it(server):
    inside_step(server)
    waiting = Server.objects.create(name="n2")
    fsm.move(waiting, NodeStates.inspect)
    fsm.move(waiting, NodeStates.provision)
    settled = fsm.recover(Server)
    reason = (
        "interrupted inside step deploy of provisioning (agent-a): "
        "the agent stopped before it finished; retry or abort"
    )
    assert [obj.pk for obj, _ in settled] == [server.pk]
    assert fields(server) == ("provision_failed", "in_service", reason, "", "")
    assert fields(waiting) == ("provisioning", "in_service", "", "", "")
    assert moves(server)[-1][2] == "interrupted"


def test_recovery_resumes_a_step_the_engine_says_is_still_going(server):
    inside_step(server)
    fsm.recover(Server, observe=lambda node: Observed.going())
    assert fields(server) == ("provisioning", "in_service", "", "", "")


def test_recovery_moves_on_a_step_the_engine_says_is_done(server):
    inside_step(server)
    fsm.recover(Server, observe=lambda node: Observed.done(NodeStates.provisioned, "active"))
    assert fields(server) == ("joining", "in_service", "", "", "")
    assert moves(server)[-1] == ("provisioning", "joining", "provisioned", "active")


def test_recovery_fails_a_step_the_engine_says_failed_with_the_engines_reason(server):
    inside_step(server)
    fsm.recover(Server, observe=lambda node: Observed.failed("ironic: deploy failed"))
    assert fields(server)[:3] == (
        "provision_failed",
        "in_service",
        "interrupted inside step deploy of provisioning (agent-a): ironic: deploy failed; "
        "retry or abort",
    )


def test_recovery_of_one_agent_leaves_another_agents_steps_and_a_hook_that_cannot_answer(
    server,
):
    inside_step(server, owner="agent-b")
    assert fsm.recover(Server, owner="agent-a") == []

    def unreachable(node):
        raise ConnectionError("ironic did not answer")

    assert fsm.recover(Server, observe=unreachable) == []
    assert fields(server) == ("provisioning", "in_service", "", "deploy", "agent-b")


def test_a_step_is_refused_while_another_agent_is_inside_one_or_outside_work(server):
    with pytest.raises(TransitionRefused, match="step deploy needs it available"):
        fsm.begin_step(server, "deploy", "agent-a")
    inside_step(server, owner="agent-b")
    with pytest.raises(TransitionRefused, match="agent-b is inside step deploy"):
        fsm.begin_step(server, "deploy", "agent-a")
    fsm.end_step(server, "agent-b")
    fsm.begin_step(server, "deploy", "agent-a")
    assert fields(server)[3:] == ("deploy", "agent-a")


def test_a_bad_declaration_fails_when_its_class_is_created():
    with pytest.raises(fsm.DeclarationError) as error:

        class Stranding(fsm.Machine):
            initial = "idle"
            idle = fsm.Stable()
            working = fsm.Transitional(
                target="idle", timeout=timedelta(minutes=5), fails_to="stuck"
            )
            stuck = fsm.Failed()
            start = fsm.Event("idle", "working")

    assert str(error.value) == (
        'Stranding: failed state "stuck" offers the operator no action; '
        'transitional state "working" cannot reach its target "idle" through declared events.'
    )


def test_an_audit_context_that_has_ended_names_no_one(server, example):
    with set_extra_data({"actor": example.people["bob"], "additional_data": {"via": "cli"}}):
        pass
    change = fsm.move(server, NodeStates.provision)
    assert (change.actor, change.via) == (None, "")


def test_a_long_reason_is_kept_to_its_first_2000_characters(server):
    fsm.move(server, NodeStates.provision)
    change = fsm.move(server, fsm.System.FAIL, reason="x" * 5000, via="a-very-long-channel-name")
    assert (len(change.reason), change.reason[-2:], change.via) == (
        2000,
        "x…",
        "a-very-long-channel-",
    )
    assert fields(server)[2] == change.reason


def test_the_agent_finds_every_stateful_model_to_sweep_and_recover(servers):
    assert fsm.stateful_models(Server._meta.apps) == [Server]


def test_an_event_of_another_machine_is_refused_even_under_a_declared_name(server):
    class Other(fsm.Machine):
        initial = "available"
        available = fsm.Stable()
        provisioning = fsm.Stable()
        provision = fsm.Event("available", "provisioning")

    with pytest.raises(ValueError, match="NodeStates declares no event 'provision'"):
        fsm.move(server, Other.provision)
    assert fields(server)[0] == "available"


def test_the_agents_loop_recovers_only_steps_of_agents_that_are_gone_and_sweeps(server):
    from allotment.agent.models import AgentProcess
    from allotment.agent.registry import get
    from allotment.core.loops import settle_states

    assert get("fsm.settle").atomic  # registered by core's AppConfig, run by `allot agent`
    now = timezone.now()
    AgentProcess.objects.create(identity="agent-live", host="h", pid=1, started=now, last_seen=now)
    inside_step(server, owner="agent-gone")
    busy = Server.objects.create(name="n2")
    fsm.move(busy, NodeStates.inspect)
    inside_step(busy, owner="agent-live")
    late = Server.objects.create(name="n3")
    fsm.move(late, NodeStates.inspect)
    fsm.move(late, NodeStates.provision)
    Server.objects.filter(pk=late.pk).update(
        state_changed_at=timezone.now() - timedelta(minutes=31)
    )
    assert settle_states(Server) == {"recovered": 1, "timed_out": 1}
    assert fields(server)[0] == "provision_failed" and "(agent-gone)" in fields(server)[2]
    assert fields(busy) == ("provisioning", "in_service", "", "deploy", "agent-live")
    assert fields(late)[0] == "provision_failed"
