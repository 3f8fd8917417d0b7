"""Reading squeue, scontrol and sacct for burst (integrations.slurm.queue), without Slurm:
the lines are those Slurm 22.05.8 printed on the loopback cluster for the jobs named."""

from types import SimpleNamespace

import pytest

from allotment.burst.engines import PendingGroup, RunningJob
from allotment.integrations.slurm.queue import (
    SEP,
    QueueReader,
    SlurmQueue,
    array_tasks,
    core_seconds_of,
    is_demand,
    job_memory_mb,
    node_states,
    partition_names,
    requested,
    short_state,
    size_mb,
)
from allotment.inventory.engines import EngineError

WAITING_FOR_NODES = (
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
)


def line(job="11", state="PENDING", reason="Priority", eligible="1000", account="projecta",
         cpus="1", memory="0", nodes="1", tres="cpu=1,mem=1000M,node=1,billing=1",
         partition="burst", features="(null)", node_list="", comment="(null)") -> str:  # fmt: skip
    """One squeue -O line as SlurmQueue asks for it (every field ended by SEP)."""
    fields = [job, state, reason, eligible, account, cpus, memory, nodes, tres, partition, features,
              node_list, comment]  # fmt: skip
    return "".join(f + SEP for f in fields) + "\n"


NOW = 2000


def read(*lines: str, partitions=("burst",)) -> QueueReader:
    reader = QueueReader(partitions, now=NOW)
    for text in lines:
        reader.feed(text)
    return reader


# -- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cores", "nodes", "mb"),
    [
        ("0", 1, 1, 0),
        ("1000M", 1, 1, 1000),
        ("2G", 1, 1, 2048),
        ("1.50G", 1, 1, 1536),
        ("512K", 1, 1, 0),
        ("2048K", 1, 1, 2),
        ("1T", 1, 1, 1048576),
        ("700", 1, 1, 700),
        ("300Mc", 4, 1, 1200),
        ("2Gc", 2, 1, 4096),
        ("500Mn", 8, 2, 1000),
    ],
)
def test_size_mb_reads_slurms_units_and_per_cpu_or_per_node_suffixes(text, cores, nodes, mb):
    assert size_mb(text, cores, nodes) == mb


@pytest.mark.parametrize("text", ["", "lots", "2X", "-1M", "1.5.0G"])
def test_size_mb_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError, match="not a Slurm memory size"):
        size_mb(text)


@pytest.mark.parametrize(
    ("min_memory", "tres", "cores", "nodes", "mb"),
    [
        # --mem-per-cpu=300M -n 2: 22.05 shows 300M; the requested TRES holds the total.
        ("300M", "cpu=2,mem=600M,node=1,billing=2", 2, 1, 600),
        # --mem=1G -c 2 (per node)
        ("1G", "cpu=2,mem=1G,node=1,billing=2", 2, 1, 1024),
        # -N 2 --mem=100M: 100M on each node
        ("100M", "cpu=2,mem=200M,node=2,billing=2", 2, 2, 200),
        # nothing asked: the TRES holds the node's whole memory (Slurm's default), not an ask
        ("0", "cpu=1,mem=1000M,node=1,billing=1", 1, 1, 0),
        # a version that marks per-CPU memory: the mark wins over the TRES
        ("300Mc", "cpu=3,mem=900M,node=1", 3, 1, 900),
        ("250Mn", "", 4, 2, 500),
        # no TRES memory (a running job's allocation): per node x nodes
        ("300M", "cpu=2,node=1,billing=2", 2, 1, 300),
    ],
)
def test_a_jobs_memory_is_all_it_asked_for(min_memory, tres, cores, nodes, mb):
    assert job_memory_mb(min_memory, tres, cores, nodes) == mb


# -- arrays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ("8_[1-100%5]", ("8", 100, 5)),
        ("8_[2-100%5]", ("8", 99, 5)),
        ("14_[1-1000:3]", ("14", 334, None)),  # --array=1-999:3,1000 as squeue folds it
        ("15_[1,4,9,16,25]", ("15", 5, None)),
        ("16_[1-3,7,10-19:3]", ("16", 8, None)),
        ("17_[5]", ("17", 1, None)),
        ("11", None),
        ("8_3", None),  # one element, pending or running on its own
    ],
)
def test_array_tasks_counts_an_index_expression_without_expanding_it(job, expected):
    assert array_tasks(job) == expected


def test_an_array_of_many_elements_is_one_group_counted_from_its_range():
    reader = read(line(job="21_[1-250000]", reason="Resources"))
    assert reader.pending() == [
        PendingGroup(cores=1, memory_mb=0, partition="burst", account="projecta", count=250000)
    ]


def test_a_throttled_array_counts_only_what_its_throttle_lets_start():
    reader = read(
        line(job="8_[3-100%5]", reason="Resources"),
        line(job="8_1", state="RUNNING", reason="None", node_list="burst1"),
        line(job="8_2", state="RUNNING", reason="None", node_list="burst2"),
        line(job="9_[1-2%5]", reason="Resources"),
    )
    # 8: 98 waiting, 5 at once, 2 running: 3 more can start. 9: both of its 2.
    assert reader.pending() == [
        PendingGroup(cores=1, memory_mb=0, partition="burst", account="projecta", count=5)
    ]


def test_an_array_at_its_throttle_is_not_demand():
    reader = read(
        line(job="8_[3-100%2]", reason="JobArrayTaskLimit"),
        line(job="8_1", state="RUNNING", reason="None", node_list="burst1"),
        line(job="8_2", state="RUNNING", reason="None", node_list="burst1"),
    )
    assert reader.pending() == []


# -- reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        "None",
        "Resources",
        "Priority",
        "ReqNodeNotAvail, May be reserved for other job",
        "ReqNodeNotAvail, UnavailableNodes:burst[1-8]",
        WAITING_FOR_NODES,
        "NodeDown",
    ],
)
def test_jobs_waiting_for_nodes_are_demand(reason):
    assert is_demand(reason)


@pytest.mark.parametrize(
    "reason",
    [
        "JobHeldUser",
        "JobHeldAdmin",
        "Dependency",
        "DependencyNeverSatisfied",
        "BeginTime",
        "AssocGrpCPUMinutesLimit",
        "AssocGrpCpuLimit",
        "AssocMaxJobsLimit",
        "QOSGrpCpuLimit",
        "QOSMaxWallDurationPerJobLimit",
        "JobArrayTaskLimit",
        "Reservation",
        "Licenses",
        "PartitionDown",
        "PartitionInactive",
        "PartitionTimeLimit",
        "PartitionNodeLimit",
        "InvalidAccount",
        "InvalidQOS",
        "BadConstraints",
        "launch failed requeued held",
        "Cleaning",
    ],
)
def test_jobs_waiting_for_anything_but_nodes_are_not_demand(reason):
    assert not is_demand(reason)


# -- groups and running jobs -------------------------------------------------------------


def test_a_job_not_yet_eligible_is_not_demand_whatever_its_reason():
    reader = read(
        # just submitted: the submit-time test's reason, not yet Dependency or BeginTime
        line(job="46", reason="ReqNodeNotAvail, May be reserved for other job", eligible="N/A"),
        line(
            job="47",
            reason="ReqNodeNotAvail, May be reserved for other job",
            eligible=str(NOW + 3600),
        ),
        line(job="48", reason="Resources", eligible=str(NOW)),
    )
    assert [g.count for g in reader.pending()] == [1]


def test_pending_jobs_are_grouped_by_what_decides_where_they_run():
    reader = read(
        line(job="1", reason=WAITING_FOR_NODES),
        line(job="2", reason="Priority"),
        line(
            job="3",
            reason="Resources",
            account="projectb",
            cpus="2",
            tres="cpu=2,mem=1000M,node=1,billing=2",
        ),
        line(
            job="4",
            reason="Resources",
            account="projectb",
            cpus="2",
            memory="300M",
            tres="cpu=2,mem=600M,node=1,billing=2",
        ),
        line(
            job="5",
            reason="Resources",
            features="intel|amd",
            comment="image=alma9 flavor=m1.large, urgent",
        ),
        line(
            job="6",
            reason="Resources",
            features="intel|amd",
            comment="image=alma9 flavor=m1.large, urgent",
        ),
        line(job="7", reason="JobHeldUser"),
        line(job="8", reason="Dependency"),
        line(job="9", reason="BeginTime"),
    )
    assert reader.pending() == [
        PendingGroup(cores=1, memory_mb=0, partition="burst", account="projecta", count=2),
        PendingGroup(cores=1, memory_mb=0, partition="burst", account="projecta",
                     features="intel|amd", image="alma9", flavor="m1.large,", count=2),
        PendingGroup(cores=2, memory_mb=0, partition="burst", account="projectb", count=1),
        PendingGroup(cores=2, memory_mb=600, partition="burst", account="projectb", count=1),
    ]  # fmt: skip
    assert reader.running == []


def test_a_job_for_several_partitions_counts_in_the_burst_one():
    reader = read(line(partition="debug,burst"), partitions=["burst", "burst-gpu"])
    assert [g.partition for g in reader.pending()] == ["burst"]


def test_a_job_of_several_nodes_is_demand_per_node():
    # sbatch -N 4 -n 32 --mem=4G: squeue gives the job's CPUs, --mem per node, TRES totals.
    reader = read(
        line(job="21", reason="Resources", cpus="32", nodes="4", memory="4G",
             tres="cpu=32,mem=16G,node=4,billing=32"),
        line(job="22", reason="Resources", cpus="10", nodes="4", memory="0",
             tres="cpu=10,node=4,billing=10"),
    )  # fmt: skip
    assert reader.pending() == [
        PendingGroup(cores=3, memory_mb=0, partition="burst", account="projecta", count=1,
                     nodes=4),  # 10 CPUs on 4 nodes: 3 on some node
        PendingGroup(cores=8, memory_mb=4096, partition="burst", account="projecta", count=1,
                     nodes=4),
    ]  # fmt: skip


def test_running_jobs_have_their_node_lists_expanded():
    reader = read(
        line(job="25", state="RUNNING", reason="None", cpus="4", nodes="2", node_list="burst[1-2]"),
        line(job="8_1", state="RUNNING", reason="None", node_list="burst3"),
        line(job="26", state="COMPLETING", reason="None", account="projectb", node_list="burst4"),
        line(job="27", state="CONFIGURING", reason="None", node_list="burst[5,7]"),
    )
    assert reader.running == [
        RunningJob(job_id="25", account="projecta", cores=4, nodes=("burst1", "burst2")),
        RunningJob(job_id="8_1", account="projecta", cores=1, nodes=("burst3",)),
        RunningJob(job_id="26", account="projectb", cores=1, nodes=("burst4",)),
        RunningJob(job_id="27", account="projecta", cores=1, nodes=("burst5", "burst7")),
    ]
    assert reader.pending() == []


def test_a_separator_inside_a_comment_stays_in_the_comment():
    reader = read(line(reason="Resources", comment=f"image=alma9 a{SEP}b flavor=m1"))
    assert (reader.pending()[0].image, reader.pending()[0].flavor) == ("alma9", "m1")


def test_a_line_with_missing_fields_is_refused_with_the_line():
    with pytest.raises(ValueError, match="squeue line with 3 fields, not 13: '1"):
        read(f"1{SEP}PENDING{SEP}Resources\n")


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("image=alma9 flavor=m1.large", ("alma9", "m1.large")),
        ("flavor=c2 run 3 of 9", ("", "c2")),
        ("my image=rocky9", ("rocky9", "")),
        ("preimage=x flavors=y", ("", "")),
        ("", ("", "")),
    ],
)
def test_the_image_and_flavor_a_job_asks_for_come_from_its_comment(comment, expected):
    assert requested(comment) == expected


# -- nodes and partitions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "short"),
    [
        ("IDLE", "idle"),
        ("ALLOCATED", "alloc"),
        ("MIXED", "mix"),
        ("FUTURE", "future"),
        ("DOWN+NOT_RESPONDING", "down*"),
        ("IDLE+NOT_RESPONDING", "idle*"),
        ("IDLE+DRAIN", "drain"),
        ("MIXED+DRAIN", "drng"),
        ("DOWN+DRAIN+NOT_RESPONDING", "drain*"),
        ("IDLE+COMPLETING", "comp"),
        ("IDLE+CLOUD+POWERED_DOWN", "idle~"),
        ("IDLE+CLOUD+POWERING_UP", "idle#"),
        ("ALLOCATED+FAIL", "failg"),
        ("UNKNOWN", "unk"),
    ],
)
def test_node_states_are_sinfos_short_words(state, short):
    assert short_state(state) == short


SHOW_NODES = (
    "NodeName=burst1 Arch=x86_64 CoresPerSocket=1  CPUAlloc=2 CPUEfctv=2 CPUTot=2 "
    "CPULoad=0.45 AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) "
    "NodeAddr=127.0.0.1 NodeHostName=localhost Port=17151 Version=22.05.8 OS=Linux "
    "6.18.44-fc-v1272 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=1000 AllocMem=0 FreeMem=20989 "
    "Sockets=2 Boards=1 State=ALLOCATED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A "
    "MCS_label=N/A Partitions=burst  BootTime=2026-12-04T23:57:36\n"
    "NodeName=burst2 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=N/A "
    "AvailableFeatures=(null) RealMemory=1000 AllocMem=0 FreeMem=N/A Sockets=2 Boards=1 "
    "State=FUTURE ThreadsPerCore=1 Partitions=burst  BootTime=None SlurmdStartTime=None\n"
    "NodeName=burst3 CoresPerSocket=1 State=IDLE+DRAIN ThreadsPerCore=1 "
    "Reason=VM going State=DOWN [root@2026-12-05T00:01:00]\n"
)


def test_node_states_reads_scontrols_one_line_form():
    assert node_states(SHOW_NODES) == {"burst1": "alloc", "burst2": "future", "burst3": "drain"}


def test_partition_names_reads_scontrols_one_line_form():
    text = (
        "PartitionName=debug AllowGroups=ALL AllowAccounts=ALL Default=YES Nodes=node[1-4]\n"
        "PartitionName=burst AllowGroups=ALL AllowAccounts=ALL Default=NO Nodes=burst[1-8]\n"
    )
    assert partition_names(text) == {"debug", "burst"}


# -- core-seconds ------------------------------------------------------------------------


def test_core_seconds_are_clipped_to_the_span_and_summed_per_account():
    lines = [
        "3|projecta|2|1|1000|1030|",  # inside: 2 x 30
        "4|projecta|1|1|990|1010",  # starts before the span: 1 x 10
        "5|projectb|4|1|1090|1200",  # ends after it: 4 x 10
        "6|projectb|2|1|1050|Unknown",  # still running: up to the span's end, 2 x 50
        "7|projectb|2|1|Unknown|Unknown",  # never started
        "8|projecta|2|1|1100|1150",  # after the span
        "9|projecta|4|2|1000|1010",  # on two nodes: half its cores here, 2 x 10
        "",
    ]
    assert core_seconds_of(lines, 1000, 1100) == {"projecta": 60 + 10 + 20, "projectb": 140}


def test_a_requeued_job_counts_each_run():
    lines = ["12|projecta|2|1|1000|1020", "12|projecta|2|1|1040|1050"]
    assert core_seconds_of(lines, 0, 2000) == {"projecta": 2 * 20 + 2 * 10}


# -- the machine -------------------------------------------------------------------------


def test_a_machine_that_is_not_slurm_has_no_queue():
    machine = SimpleNamespace(name="tango", engine="openstack", engine_options={})
    with pytest.raises(EngineError, match="Machine tango runs 'openstack', not Slurm") as e:
        SlurmQueue(machine)
    assert e.value.permanent


def test_the_queue_reads_with_whole_array_expressions_epoch_times_and_utc():
    options = {"cluster": "brecca", "slurm_conf": "/x/slurm.conf"}
    machine = SimpleNamespace(name="brecca", engine="slurm", engine_options=options)
    env = SlurmQueue(machine).slurm.cluster.env()
    assert (env["SLURM_CONF"], env["SLURM_BITSTR_LEN"], env["SLURM_TIME_FORMAT"], env["TZ"]) == (
        "/x/slurm.conf", "0", "%s", "UTC",
    )  # fmt: skip
