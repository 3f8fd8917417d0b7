"""HTCondor as the service a burst VM's node is in (integrations.htcondor.nodes), on
recorded answers of pool brecca's collector and schedd (tests/data/nodes_*.ads) and a
recording stand-in for the commands sent to its startds and masters: the only stand-in,
since no HTCondor daemon can run here."""

from types import SimpleNamespace

import htcondor2
import pytest

from allotment.integrations.htcondor.nodes import HTCondorNodes, host_constraint
from allotment.integrations.htcondor.testing import RecordedSchedd, Recording, Unreachable
from allotment.inventory.drivers import service
from allotment.inventory.engines import EngineError, Evacuation, HostState, Workload

from .recorded_daemons import PoolCollector, RecordedControl

OPTIONS = {
    "collector": "cm.brecca.example.org:9618",
    "schedd": "submit.brecca.example.org",
    "account_attr": "AcctGroup",
}
WHERE = "HTCondor machine brecca (schedd submit.brecca.example.org of cm.brecca.example.org:9618)"
OURS = "allotment shift: burst VM retiring (idle for 300 s)"


def address(vm: str, sock: str, daemon: str = "startd") -> str:
    n = vm[-2:]
    return f"<10.20.0.{n}:9618?addrs=10.20.0.{n}-9618&alias={vm}&noUDP&sock={daemon}_{sock}>"


VM011 = address("brecca-vm011", "1712_3a9c")
VM013 = address("brecca-vm013", "1702_c4d0")
VM017 = address("brecca-vm017", "1694_1a2b")


def brecca(collector=None, schedd=None, control=None) -> HTCondorNodes:
    machine = SimpleNamespace(name="brecca", engine="htcondor", engine_options=OPTIONS)
    return HTCondorNodes(
        machine,
        collector=collector
        or PoolCollector(Recording("nodes_startds.ads"), Recording("nodes_masters.ads")),
        schedd=schedd or RecordedSchedd(jobs=Recording("nodes_jobs.ads")),
        control=control or RecordedControl(),
    )


# -- what a host is ----------------------------------------------------------------------


def test_a_joined_vm_is_known_and_up():
    assert brecca().host("brecca-vm011") == HostState(
        known=True, up=True, drained=False, reason="", detail="Unclaimed/Idle"
    )


def test_a_vm_whose_startd_has_not_joined_is_unknown():
    assert brecca().host("brecca-vm019") == HostState(
        known=False, detail=f"no startd ad of brecca-vm019 in {WHERE}"
    )


def test_a_vm_the_collector_no_longer_hears_from_is_known_but_down():
    state = brecca().host("brecca-vm015")
    assert (state.known, state.up, state.detail) == (True, False, "Unclaimed/Idle (absent)")


def test_a_drain_of_ours_is_read_back_with_its_reason_from_the_slot_ads():
    state = brecca().host("brecca-vm013")
    assert state == HostState(
        known=True,
        up=True,
        drained=True,
        reason=OURS,
        detail="Claimed/Retiring, Drained/Retiring (draining)",
    )
    assert state.drained_by_us


def test_an_operators_drain_is_drained_but_not_ours():
    state = brecca().host("brecca-vm014")
    assert (state.drained, state.reason, state.drained_by_us) == (True, "by condor", False)


def test_a_host_of_the_pools_own_is_found_by_its_short_name():
    assert brecca().host("worker01").detail == "Claimed/Busy"


def test_a_name_is_matched_whole_not_as_a_prefix():
    collector = PoolCollector(Recording("nodes_startds.ads"))
    assert brecca(collector=collector).host("brecca-vm01").known is False
    assert collector.calls == [(
        "query", htcondor2.AdType.Startd, host_constraint("brecca-vm01"),
        ["Name", "Machine", "AllotmentVM", "State", "Activity", "SlotType", "Cpus", "Draining",
         "Absent", "DrainReason", "DrainingRequestId", "MyAddress", "JobId", "ClientMachine"],
    )]  # fmt: skip
    assert host_constraint("brecca-vm01") == (
        'AllotmentVM =?= "brecca-vm01" || Machine =?= "brecca-vm01" '
        '|| regexp("^brecca-vm01[.]", Machine)'
    )


def test_a_host_list_is_refused_as_a_name():
    with pytest.raises(EngineError, match=r"'brecca-vm\[1-2\]' is not a host name") as e:
        brecca().host("brecca-vm[1-2]")
    assert e.value.permanent


# -- its work ----------------------------------------------------------------------------


def test_workload_is_the_schedds_jobs_on_the_host_and_claims_of_other_schedds():
    assert brecca().workload("brecca-vm012") == [
        Workload(id="120.0", name="tiles", state="RUNNING", detail="slot1_1@brecca-vm012"),
        Workload(
            id="7.0",
            name="claim of submit.elsewhere.example.org",
            state="Claimed/Busy",
            detail="slot1_2@brecca-vm012",
        ),
    ]


def test_an_idle_vm_has_no_workload_and_a_neighbours_jobs_are_not_its():
    assert brecca().workload("brecca-vm011") == []
    assert [w.id for w in brecca().workload("brecca-vm0120")] == ["122.0"]


def test_a_schedd_that_does_not_answer_is_a_temporary_error():
    with pytest.raises(EngineError, match="could not read the jobs on brecca-vm012") as e:
        brecca(schedd=Unreachable()).workload("brecca-vm012")
    assert not e.value.permanent


# -- drain and resume --------------------------------------------------------------------


def test_drain_asks_the_startd_for_a_graceful_drain_with_our_reason():
    control = RecordedControl()
    brecca(control=control).drain("brecca-vm011", OURS)
    assert control.calls == [(
        "drainJobs", VM011, htcondor2.DrainType.Graceful, htcondor2.CompletionType.Nothing, OURS
    )]  # fmt: skip


def test_a_drained_host_is_not_drained_again_and_its_reason_stays():
    control = RecordedControl()
    brecca(control=control).drain("brecca-vm014", OURS)
    brecca(control=control).drain("brecca-vm013", OURS + " again")
    assert control.calls == []


def test_draining_a_host_the_collector_lacks_is_a_permanent_error():
    with pytest.raises(EngineError, match="cannot drain brecca-vm019: the collector has no") as e:
        brecca().drain("brecca-vm019", OURS)
    assert e.value.permanent


def test_draining_an_absent_startd_waits_for_it():
    with pytest.raises(EngineError, match="no longer hears from its startd") as e:
        brecca().drain("brecca-vm015", OURS)
    assert not e.value.permanent


def test_resume_cancels_only_our_drain_by_its_request_id():
    control = RecordedControl()
    nodes = brecca(control=control)
    nodes.resume("brecca-vm017")  # ours
    nodes.resume("brecca-vm014")  # an operator's: stays
    nodes.resume("brecca-vm011")  # not drained
    assert control.calls == [
        ("cancelDrainJobs", VM017, "5a6b7c8d-2222-4e3f-9a0b-1c2d3e4f5a6b"),
    ]


def test_health_says_why_a_host_is_not_fit_for_work():
    nodes = brecca()
    assert nodes.health("brecca-vm011") == ""
    assert nodes.health("brecca-vm019") == f"no startd of brecca-vm019 has joined {WHERE}"
    assert nodes.health("brecca-vm015") == (
        f"the collector of {WHERE} no longer hears from the startd of brecca-vm015"
    )
    assert (
        nodes.health("brecca-vm013") == f"the startd of brecca-vm013 is drained by a shift ({OURS})"
    )
    someone = "drained by someone else, never resumed by a shift (by condor)"
    assert nodes.health("brecca-vm014") == f"the startd of brecca-vm014 is {someone}"
    assert nodes.health("brecca-vm016") == (
        "the startd of brecca-vm016 is in the Owner state: its START expression is false"
    )


# -- evacuate, start, stop ---------------------------------------------------------------


def test_evacuate_without_force_waits_for_the_jobs():
    control = RecordedControl()
    assert brecca(control=control).evacuate("brecca-vm012", force=False) == Evacuation()
    assert control.calls == []


def test_forced_evacuation_vacates_the_startd_and_names_the_jobs_it_moves():
    control = RecordedControl()
    done = brecca(control=control).evacuate("brecca-vm012", force=True)
    assert done == Evacuation(started=["vacate 120.0", "vacate 7.0"])
    address12 = address("brecca-vm012", "1698_77e1")
    assert control.calls == [("vacate", address12, htcondor2.VacateType.Graceful)]


def test_jobs_already_vacating_are_not_asked_again():
    control = RecordedControl()
    assert brecca(control=control).evacuate("brecca-vm018", force=True) == Evacuation()
    assert control.calls == []


def test_start_asks_nothing_the_image_starts_condor():
    control, collector = RecordedControl(), PoolCollector(Recording("nodes_startds.ads"))
    brecca(collector=collector, control=control).start("brecca-vm011")
    assert control.calls == [] and collector.calls == []


def test_stop_turns_the_startd_off_through_the_hosts_master():
    control = RecordedControl()
    brecca(control=control).stop("brecca-vm017")
    master17 = address("brecca-vm017", "1641_6c55", "master")
    assert control.calls == [("send", master17, htcondor2.DaemonCommands.DaemonOff, "STARTD")]


def test_stop_refuses_while_jobs_run():
    control = RecordedControl()
    with pytest.raises(
        EngineError, match=r"brecca-vm013 still runs jobs 121\.0; not stopping"
    ) as e:
        brecca(control=control).stop("brecca-vm013")
    assert not e.value.permanent and control.calls == []


def test_stop_of_a_host_gone_or_without_master_asks_nothing():
    control = RecordedControl()
    nodes = brecca(control=control)
    nodes.stop("brecca-vm019")  # no ad
    nodes.stop("brecca-vm015")  # absent
    nodes.stop("brecca-vm016")  # no master ad
    assert control.calls == []


def test_stop_of_a_vm_whose_daemons_do_not_answer_does_not_keep_it(caplog):
    nodes = brecca(schedd=Unreachable())
    nodes.stop("brecca-vm011")
    assert "could not read the jobs on brecca-vm011" in caplog.text
    assert "(not stopped; the VM is deleted anyway)" in caplog.text


# -- chosen by the database --------------------------------------------------------------


def test_an_htcondor_machine_is_served_by_htcondor_nodes():
    machine = SimpleNamespace(name="brecca", engine="htcondor", engine_options=OPTIONS)
    assert isinstance(service(machine), HTCondorNodes)


def test_a_machine_of_another_engine_is_refused():
    machine = SimpleNamespace(name="brecca", engine="slurm", engine_options={})
    with pytest.raises(EngineError, match="runs 'slurm', not HTCondor") as e:
        HTCondorNodes(machine)
    assert e.value.permanent
