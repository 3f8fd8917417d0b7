"""The simulator takes the agent's decisions: on the same state as the agent's clouds, it
boots and refuses what the agent boots and refuses."""

from collections import Counter

import pytest

from allotment.burst import reconcile, services
from allotment.burst.local import LocalQueue
from allotment.burst.models import VM, Cloud
from allotment.burst.simulation import Simulator, parse_config
from allotment.resources.models import Machine, MachineCategory, MachineKind


def sim_twin(clouds: list[Cloud], budgets: dict | None = None) -> Simulator:
    """The simulator's clouds as the agent's: same settings, quota and flavors; boots that
    never finish, as the local clouds' here."""
    spec = {"cycle_s": 10, "budgets": budgets or {}, "clouds": []}
    for c in clouds:
        c.refresh_from_db()
        q = c.state.quota
        spec["clouds"].append({
            "name": c.name, "priority": c.priority, "max_starting": c.max_starting,
            "max_boots_per_cycle": c.max_boots_per_cycle, "idle_keep": c.idle_keep,
            "quota": {k: q[k] for k in ("instances", "cores", "ram_mb")},
            "flavors": [{"name": f.name, "cores": f.cores, "ram_mb": f.ram_mb}
                        for f in c.flavors.all()],
            "boot_time": 3600, "boot_timeout": 7200,
        })  # fmt: skip
    return Simulator(parse_config(spec))


def boots_of(vms) -> Counter:
    return Counter((vm.cloud if isinstance(vm.cloud, str) else vm.cloud.name,
                    vm.flavor if isinstance(vm.flavor, str) else vm.flavor.name,
                    vm.image, vm.account, vm.group) for vm in vms)  # fmt: skip


@pytest.fixture
def two_clouds(burst_site):
    brecca, nimbus = burst_site
    nimbus.options = {**nimbus.options, "boot_seconds": 3600}
    nimbus.max_starting, nimbus.max_boots_per_cycle = 4, 2
    nimbus.save()
    machine = Machine.objects.create(
        name="cumulus", kind=MachineKind.CLOUD, category=MachineCategory.objects.first()
    )
    cumulus = Cloud.objects.create(
        machine=machine, driver="local", priority=20, default_image="burst-worker",
        options={"boot_seconds": 3600, "quota": {"instances": 2, "cores": 4, "ram_mb": 4000}},
        max_starting=2,
    )  # fmt: skip
    cumulus.serves.add(brecca)
    for cloud in (nimbus, cumulus):
        services.refresh(cloud)
    return brecca, [nimbus, cumulus]


@pytest.mark.django_db
def test_the_simulator_decides_as_the_agent_on_the_same_state(two_clouds):
    brecca, clouds = two_clouds
    queue = LocalQueue(brecca)
    sim = sim_twin(clouds)

    def submit(account, cores, memory_mb, count):
        queue.submit(account, cores=cores, memory_mb=memory_mb, seconds=600, count=count)
        for _ in range(count):
            sim.add_job(sim.now, 600, cores, memory_mb, account=account)
        sim.advance(sim.now)

    submit("projecta", 1, 0, 4)
    submit("projectb", 2, 1500, 3)
    services.run_cycle(brecca)
    agent_first = boots_of(VM.objects.all())
    sim_first = sim.apply(sim.decision())
    assert boots_of(sim_first) == agent_first
    # nimbus boots 2 a cycle, cumulus takes the rest up to its 2 starting VMs.
    assert sorted(agent_first.elements()) == [
        ("cumulus", "local.medium", "burst-worker", "projectb", "projectb|burst|2|1500|||"),
        ("cumulus", "local.small", "burst-worker", "projecta", "projecta|burst|1|0|||"),
        ("nimbus", "local.medium", "burst-worker", "projectb", "projectb|burst|2|1500|||"),
        ("nimbus", "local.small", "burst-worker", "projecta", "projecta|burst|1|0|||"),
    ]
    # The VMs boot (for an hour); more jobs come: the next decision nets the VMs coming,
    # the quota and the starting throttle used by them.
    for vm in reconcile.targets():
        reconcile.step(vm)
    assert set(VM.objects.values_list("state", flat=True)) == {"booting"}
    submit("projecta", 1, 0, 2)
    submit("projectc", 2, 0, 1)
    cycle = services.run_cycle(brecca)
    sim.now += 10
    decision = sim.decision()
    second = sim.apply(decision)
    agent_second = boots_of(VM.objects.all()) - agent_first
    assert boots_of(second) == agent_second
    assert dict(decision.refusals) == cycle.report["refusals"]
    assert sum(agent_second.values()) == 2 and cycle.report["refusals"]


@pytest.mark.django_db
def test_the_simulator_refuses_a_spent_allocation_as_the_agent(two_clouds, vm_hours):
    brecca, clouds = two_clouds
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=1, seconds=60, count=2)
    queue.submit("projectb", cores=1, seconds=60, count=2)  # a grant with no allocation
    cycle = services.run_cycle(brecca)
    sim = sim_twin(clouds, budgets={"projecta": 10, "projectb": 0})
    for account in ("projecta", "projecta", "projectb", "projectb"):
        sim.add_job(0, 60, 1, account=account)
    sim.advance(0)
    decision = sim.decision()
    assert boots_of(sim.apply(decision)) == boots_of(VM.objects.all())
    assert dict(decision.refusals) == cycle.report["refusals"] == {"allocation spent": 2}
