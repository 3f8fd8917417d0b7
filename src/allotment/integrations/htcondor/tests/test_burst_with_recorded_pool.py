"""Burst end to end for an HTCondor machine: pool brecca's recorded answers change as
its burst VM lives (tests/data/pool), the VM itself boots in the local cloud. A job idle
→ a VM booted → its startd joins (the collector answers its ads once the cloud runs the
server) → busy with the job → idle → drained by burst with its reason → its startd
turned off → the server deleted → the VM's time charged. Through burst.services
(refresh, run_cycle) and burst.reconcile.step, with integrations.htcondor.queue and
.nodes reading the recordings: the only stand-in, since no HTCondor daemon runs here."""

import time

import htcondor2
import pytest

from allotment.burst import reconcile, services
from allotment.burst.engines import ServerStatus
from allotment.burst.local import LocalCloud
from allotment.burst.models import VM, Cloud, Cycle, VMCharge
from allotment.burst.tests.conftest import burst_site, fresh_server_listings  # noqa: F401
from allotment.integrations.htcondor import nodes
from allotment.integrations.htcondor.queue import HTCondorQueue
from allotment.integrations.htcondor.testing import RecordedSchedd, Recording
from allotment.inventory.engines import HostState
from allotment.resources.models import Engine, Machine

from .recorded_daemons import PoolCollector, RecordedControl, RecordedStartd

pytestmark = pytest.mark.django_db

VM_NAME = "brecca-vm001"
STARTD = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=startd_1520_4be7>"
MASTER = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=master_1498_07aa>"
REASON = "allotment shift: burst VM retiring (idle for 0 s)"


class BootingPool:
    """Pool brecca's collector, schedd and daemons as the VM lives. The test moves the
    schedd's recordings (a job idle, running, done); the collector answers the VM's
    startd and master ads only while the local cloud runs its server and until its
    startd is turned off (a startd shut down invalidates its ads); a drain asked with
    the recorded reason brings the recording of the drained startd."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.schedd = RecordedSchedd(
            autoclusters=Recording("pool/idle_queued.ads"),
            jobs=Recording("pool/jobs_none.ads"),
            history=Recording("pool/history.ads"),
        )
        self.collector = VMCollector(self)
        self.control = PoolControl(self)
        self.off = False

    def vm_runs(self) -> bool:
        servers = LocalCloud(self.cloud.name, self.cloud.options).servers()
        up = any(s.name == VM_NAME and s.status == ServerStatus.ACTIVE for s in servers)
        return up and not self.off

    def run_job(self) -> None:
        self.schedd.autoclusters = Recording("pool/idle_none.ads")
        self.schedd.jobs = Recording("pool/jobs_running.ads")
        self.collector.startds = Recording("pool/vm001_claimed.ads")

    def job_done(self) -> None:
        self.schedd.jobs = Recording("pool/jobs_none.ads")
        self.collector.startds = Recording("pool/vm001_unclaimed.ads")


class VMCollector(PoolCollector):
    def __init__(self, pool: BootingPool) -> None:
        super().__init__(Recording("pool/vm001_unclaimed.ads"), Recording("pool/masters.ads"))
        self.pool = pool

    def query(self, ad_type=htcondor2.AdType.Any, constraint=None, projection=None,
              statistics=None):  # fmt: skip
        ads = super().query(ad_type, constraint, projection, statistics)
        return ads if self.pool.vm_runs() else []


class PoolControl(RecordedControl):
    def __init__(self, pool: BootingPool) -> None:
        super().__init__()
        self.pool = pool

    def startd(self, location) -> RecordedStartd:
        recorded = super().startd(location)
        pool = self.pool

        class Draining(RecordedStartd):
            def drainJobs(self, *args, reason=None, **kwargs):
                drained = Recording("pool/vm001_drained.ads")
                assert reason == drained.ads[0]["DrainReason"], "record the drain again"
                pool.collector.startds = drained
                return super().drainJobs(*args, reason=reason, **kwargs)

        return Draining(recorded.control, recorded.address)

    def send(self, location, command, target=None) -> None:
        super().send(location, command, target)
        if (command, target) == (htcondor2.DaemonCommands.DaemonOff, "STARTD"):
            self.pool.off = True


@pytest.fixture
def pool(burst_site, monkeypatch):  # noqa: F811 (the fixture imported above)
    """burst's site (burst.tests.conftest: brecca's burst partition bursts into the local
    cloud nimbus, a VM up as soon as it is booted) with brecca an HTCondor machine whose
    pool's recordings answer."""
    brecca, cloud = burst_site
    brecca.engine = Engine.HTCONDOR
    brecca.engine_options = {
        "collector": "cm.brecca.example.org:9618",
        "schedd": "submit.brecca.example.org",
        "account_attr": "AcctGroup",
        "partition_attr": "BurstPartition",
        "burst": {"partitions": ["burst"], "nodes": "brecca-vm[001-004]"},
    }
    brecca.save()
    cloud.idle_keep = 3600  # kept while its job starts; retired when the test says
    cloud.save()
    found = BootingPool(cloud)
    monkeypatch.setattr(HTCondorQueue, "collector", lambda self: found.collector)
    monkeypatch.setattr(HTCondorQueue, "schedd", lambda self: found.schedd)
    monkeypatch.setattr(nodes, "Bindings", lambda: found.control)
    return brecca, cloud, found


def tick(brecca: Machine, cloud: Cloud) -> Cycle:
    services.refresh(cloud)
    cycle = services.run_cycle(brecca)
    for vm in reconcile.targets():
        reconcile.step(vm)
    return cycle


def state() -> str:
    return VM.objects.get(name=VM_NAME).state


def test_an_idle_job_boots_a_vm_that_joins_runs_it_is_drained_and_deleted(pool):
    brecca, cloud, htcondor = pool
    node = nodes.HTCondorNodes(brecca)
    assert node.host(VM_NAME).known is False

    cycle = tick(brecca, cloud)  # the decision, the boot
    assert (cycle.idle_jobs, cycle.groups, cycle.boots) == (1, 1, 1)
    assert state() == "booting"
    vm = VM.objects.get(name=VM_NAME)
    assert (vm.account, vm.cores, vm.ram_mb) == ("projecta", 2, 2000)  # local.medium

    tick(brecca, cloud)  # the server runs; its startd has joined
    assert state() == "idle"
    assert node.host(VM_NAME) == HostState(True, True, False, "", "Unclaimed/Idle")

    htcondor.run_job()
    cycle = tick(brecca, cloud)
    assert state() == "busy"
    assert (cycle.idle_jobs, cycle.boots) == (0, 0)

    time.sleep(1.1)  # the job runs: the VM lives a whole second at least
    htcondor.job_done()
    cloud.idle_keep = 0
    cloud.save()
    tick(brecca, cloud)
    assert state() == "idle"
    tick(brecca, cloud)  # idle too long: drained with burst's reason
    assert state() == "retiring"
    assert node.host(VM_NAME) == HostState(True, True, True, REASON, "Drained/Idle (draining)")
    assert node.host(VM_NAME).drained_by_us

    tick(brecca, cloud)  # drained, no job: to be deleted
    assert state() == "deleting"
    tick(brecca, cloud)  # its startd off, the server deleted
    assert node.host(VM_NAME).known is False
    assert LocalCloud("nimbus").servers() == []
    tick(brecca, cloud)  # the cloud lists it no more: charged
    assert state() == "deleted"

    assert htcondor.control.calls == [
        ("drainJobs", STARTD, htcondor2.DrainType.Graceful, htcondor2.CompletionType.Nothing,
         REASON),
        ("send", MASTER, htcondor2.DaemonCommands.DaemonOff, "STARTD"),
    ]  # fmt: skip
    vm = VM.objects.get(name=VM_NAME)
    life = int(vm.ended_at.timestamp()) - int(vm.requested_at.timestamp())
    # The job's recorded times are not within the VM's life: its whole time is charged
    # to the project it was booted for (whose job it ran).
    charges = list(VMCharge.objects.values_list("vm_name", "account", "seconds"))
    assert life >= 1 and charges == [(VM_NAME, "projecta", life)]


def test_the_collector_answers_the_vm_only_once_its_server_runs(pool):
    brecca, cloud, htcondor = pool
    cloud.options = {**cloud.options, "boot_seconds": 1}
    cloud.save()
    tick(brecca, cloud)  # booted, not running yet
    tick(brecca, cloud)
    assert state() == "booting"
    assert nodes.HTCondorNodes(brecca).health(VM_NAME) == (
        "no startd of brecca-vm001 has joined HTCondor machine brecca "
        "(schedd submit.brecca.example.org of cm.brecca.example.org:9618)"
    )
    time.sleep(1.1)
    services.forget_servers(cloud)
    tick(brecca, cloud)
    assert state() == "idle"
    assert htcondor.control.calls == []
