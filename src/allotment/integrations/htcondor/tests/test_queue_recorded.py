"""HTCondor's queue for burst (integrations.htcondor.queue) on recorded answers of pool
brecca's schedd and collector (tests/data, read by integrations.htcondor.testing: the
only stand-in, since no HTCondor daemon can run here)."""

from types import SimpleNamespace

import classad2
import htcondor2
import pytest

from allotment.burst.engines import PendingGroup, RunningJob
from allotment.integrations.htcondor.queue import (
    HTCondorQueue,
    Options,
    idle_query,
    memory_mb,
    node_of,
    pending_groups,
)
from allotment.integrations.htcondor.testing import (
    RecordedCollector,
    RecordedSchedd,
    Recording,
    Unreachable,
)
from allotment.inventory.engines import EngineError

OPTIONS = {
    "collector": "cm.brecca.example.org:9618",
    "schedd": "submit.brecca.example.org",
    "account_attr": "AcctGroup",
    "partition_attr": "BurstPartition",
    "image_attr": "VMImage",
    "flavor_attr": "VMFlavor",
    "features_attr": "BurstFeatures",
}
NODES = [f"brecca-vm{n:03d}" for n in range(1, 9)]


def machine(**options):
    return SimpleNamespace(name="brecca", engine="htcondor", engine_options=OPTIONS | options)


def recorded_schedd() -> RecordedSchedd:
    return RecordedSchedd(
        autoclusters=Recording("idle_autoclusters.ads"),
        jobs=Recording("jobs.ads"),
        history=Recording("history.ads"),
    )


def brecca(schedd=None, collector=None, **options) -> HTCondorQueue:
    return HTCondorQueue(
        machine(**options),
        collector=collector or RecordedCollector(Recording("startds.ads")),
        schedd=schedd or recorded_schedd(),
    )


# -- the snapshot ------------------------------------------------------------------------


def test_idle_jobs_are_counted_by_autocluster_in_one_groupby_query():
    schedd = recorded_schedd()
    snapshot = brecca(schedd).snapshot(["burst"], NODES)
    assert snapshot.pending == [
        PendingGroup(cores=1, memory_mb=0, partition="burst", account="projectb", count=30),
        PendingGroup(cores=1, memory_mb=2048, partition="burst", account="projecta", count=40),
        PendingGroup(
            cores=2,
            memory_mb=4096,
            partition="burst",
            account="projectb",
            features="avx2",
            flavor="c2.large",
            count=3,
        ),
        PendingGroup(
            cores=4,
            memory_mb=8192,
            partition="burst",
            account="projecta",
            image="ubuntu-24.04",
            count=6,
        ),
    ]
    groupby = [call for call in schedd.calls if call[3] == htcondor2.QueryOpt.GroupBy]
    assert groupby == [(
        "query",
        'JobStatus == 1 && JobUniverse == 5 && member(BurstPartition, {"burst"})',
        ["JobStatus", "JobUniverse", "RequestCpus", "RequestMemory", "AcctGroup",
         "BurstPartition", "VMImage", "VMFlavor", "BurstFeatures"],
        htcondor2.QueryOpt.GroupBy,
    )]  # fmt: skip
    assert len(schedd.calls) == 2  # and one query of the running jobs: never one per job


def test_running_jobs_are_those_holding_a_slot_in_the_burst_partition_named_by_host():
    snapshot = brecca().snapshot(["burst"], NODES)
    assert snapshot.running == [
        RunningJob(job_id="110.0", account="projecta", cores=4, nodes=("brecca-vm001",)),
        RunningJob(job_id="110.1", account="projectb", cores=2, nodes=("brecca-vm003",)),
        RunningJob(job_id="112.0", account="projectb", cores=1, nodes=("brecca-vm0010",)),
    ]


def test_burst_nodes_states_come_from_their_startd_slots():
    collector = RecordedCollector(Recording("startds.ads"))
    snapshot = brecca(collector=collector).snapshot(["burst"], ["brecca-vm[001-008]"])
    assert snapshot.nodes == {
        "brecca-vm001": "alloc",
        "brecca-vm002": "idle",
        "brecca-vm003": "mix",
        "brecca-vm004": "drng",
        "brecca-vm005": "drain",
        "brecca-vm006": "drain",
        "brecca-vm008": "down",
    }  # brecca-vm007 has no ad: absent, as Slurm leaves out a node it lacks
    assert collector.calls == [(
        "query", htcondor2.AdType.Startd, "AllotmentVM isnt undefined",
        ["Name", "Machine", "AllotmentVM", "State", "Activity", "SlotType", "Cpus", "Draining",
         "Absent"],
    )]  # fmt: skip


def test_only_the_nodes_asked_about_are_reported():
    snapshot = brecca().snapshot(["burst"], ["brecca-vm002", "brecca-vm099"])
    assert snapshot.nodes == {"brecca-vm002": "idle"}


def test_without_a_partition_attribute_every_idle_job_is_the_one_burst_partitions():
    constraint, projection = idle_query(Options(), ["cloud"])
    assert constraint == "JobStatus == 1 && JobUniverse == 5"
    assert projection == ["JobStatus", "JobUniverse", "RequestCpus", "RequestMemory", "AcctGroup"]
    ads = Recording("idle_autoclusters.ads").ads
    assert [(g.partition, g.count) for g in pending_groups(ads, Options(), ["cloud"])] == [
        ("cloud", 30), ("cloud", 40), ("cloud", 3), ("cloud", 6),
    ]  # fmt: skip


def test_two_partitions_without_an_attribute_to_tell_them_apart_is_refused():
    queue = brecca(partition_attr="")
    with pytest.raises(EngineError, match="no engine_options partition_attr") as e:
        queue.snapshot(["burst", "gpu"], NODES)
    assert e.value.permanent


def test_a_site_constraint_is_added_and_the_attributes_it_names_projected():
    constraint, projection = idle_query(
        Options(partition_attr="BurstPartition", job_constraint="MY.WantBurst =?= true"),
        ["burst", "gpu"],
    )
    assert constraint == ('JobStatus == 1 && JobUniverse == 5 && member(BurstPartition, '
                          '{"burst", "gpu"}) && (MY.WantBurst =?= true)')  # fmt: skip
    assert projection[-1] == "WantBurst"  # the schedd tests the constraint on each autocluster


# -- reading the ads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("RequestMemory = 2048", 2048),
        # condor_submit's default for a job with no request_memory: not an ask
        (
            "RequestMemory = ifthenelse(MemoryUsage =!= undefined,MemoryUsage,"
            "(ImageSize + 1023) / 1024)\nImageSize = 25",
            0,
        ),
        ("RequestMemory = 1024 * RequestCpus\nRequestCpus = 2", 2048),  # an expression asked
        ("RequestMemory = 1500.4", 1500),
        ("RequestCpus = 1", 0),
    ],
)
def test_memory_is_what_the_job_asked_for_in_mib(text, mb):
    assert memory_mb(classad2.parseOne(text, classad2.ParserType.Old)) == mb


@pytest.mark.parametrize(
    ("slot", "node"),
    [
        ("slot1_3@brecca-vm007", "brecca-vm007"),
        ("slot1_3@brecca-vm007.novalocal", "brecca-vm007"),  # the image's own host name
        ("slot1@worker01.brecca.example.org", "worker01.brecca.example.org"),  # not burst's
        ("slot2@10.0.0.7", "10.0.0.7"),
        ("slot1@brecca.ca-vm001", "brecca.ca-vm001"),  # a machine name with a dot
    ],
)
def test_a_slots_node_is_the_burst_vm_its_host_names(slot, node):
    assert node_of(slot, ["brecca-vm007", "brecca.ca-vm001", "10"]) == node


# -- core-seconds ------------------------------------------------------------------------


def test_core_seconds_share_a_nodes_time_among_accounts_from_history_and_the_queue():
    schedd = recorded_schedd()
    used = brecca(schedd).core_seconds("brecca-vm001", 1200, 2700)
    # 101.3: 1200-1600 x 1; 102.0: its last run 1500-2100 x 4 (not the 300 s elsewhere);
    # 110.0 running: 2400-2700 x 4; 103.7 removed: 2200-2500 x 1; 104.1 was on brecca-vm0010
    # and 101.9 ended before 1200.
    assert used == {"projecta": 400 + 2400 + 1200, "projectb": 300}
    assert schedd.calls[0][:2] == (
        "history",
        'regexp("@brecca-vm001([.]|$)", LastRemoteHost) && JobCurrentStartDate <= 2700'
        " && (CompletionDate >= 1200 || EnteredCurrentStatus >= 1200)",
    )


def test_core_seconds_refuses_what_is_not_a_node_name():
    with pytest.raises(EngineError, match="is not a node name") as e:
        brecca().core_seconds('vm1") || true || ("', 0, 10)
    assert e.value.permanent


# -- failures ----------------------------------------------------------------------------


def test_a_schedd_that_does_not_answer_is_a_temporary_error_naming_the_pool():
    with pytest.raises(EngineError) as e:
        brecca(schedd=Unreachable()).snapshot(["burst"], NODES)
    assert not e.value.permanent
    assert str(e.value) == (
        "HTCondor machine brecca (schedd submit.brecca.example.org of "
        "cm.brecca.example.org:9618): could not read the idle jobs' autoclusters: Failed to "
        "connect to <10.0.0.9:9618>"
    )


def test_a_collector_that_does_not_answer_is_a_temporary_error():
    with pytest.raises(EngineError, match="could not read the burst VMs' startd ads") as e:
        brecca(collector=Unreachable()).snapshot(["burst"], NODES)
    assert not e.value.permanent


def test_a_constraint_htcondor_cannot_parse_is_permanent():
    with pytest.raises(EngineError, match="not a ClassAd expression") as e:
        brecca(job_constraint="WantBurst ==").snapshot(["burst"], NODES)
    assert e.value.permanent


def test_an_attribute_name_that_is_not_one_is_refused_at_once():
    with pytest.raises(EngineError, match="partition_attr 'Burst Partition' is not") as e:
        brecca(partition_attr="Burst Partition")
    assert e.value.permanent


def test_another_engines_machine_has_no_htcondor_queue():
    with pytest.raises(EngineError, match="runs 'slurm', not HTCondor"):
        HTCondorQueue(SimpleNamespace(name="brecca", engine="slurm", engine_options={}))


def test_the_recording_refuses_a_query_it_was_not_recorded_for():
    schedd = recorded_schedd()
    with pytest.raises(AssertionError, match="record it again"):
        schedd.query("JobStatus == 1", ["RequestCpus"], opts=htcondor2.QueryOpt.GroupBy)
