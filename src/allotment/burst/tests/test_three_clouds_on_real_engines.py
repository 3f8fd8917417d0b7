"""Three clouds of three drivers at once: the real OpenStack on loopback (Nova, Placement,
Glance, Keystone), EC2 as moto's server, and the local cloud, bursting for brecca's queue
(the local batch system, so that this test needs no Slurm: the Slurm path is proven by
the queue's own tests). Mid-run OpenStack's compute API is stopped: the cloud turns
unhealthy, the VMs it was booting are abandoned, its demand goes to the other clouds;
when it answers again the abandoned VMs' servers are deleted there."""

import contextlib
import time

import pytest

from allotment.burst import reconcile, services
from allotment.burst.engines import EngineError
from allotment.burst.local import LocalQueue
from allotment.burst.models import VM, Cloud
from allotment.integrations.ec2 import devec2
from allotment.integrations.openstack import devcloud
from allotment.resources.models import Machine, MachineCategory, MachineKind

pytestmark = [pytest.mark.openstack, pytest.mark.ec2, pytest.mark.slow, pytest.mark.django_db]


def tick(brecca, clouds, rounds: int = 1) -> None:
    for _ in range(rounds):
        for cloud in clouds:
            cloud.refresh_from_db()
            with contextlib.suppress(EngineError):
                services.refresh(cloud)
        services.run_cycle(brecca)
        for vm in reconcile.targets():
            reconcile.step(vm)


def live() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for cloud, state in VM.objects.exclude(state="deleted").values_list("cloud_id", "state"):
        found.setdefault(Machine.objects.get(pk=cloud).name, []).append(state)
    return {k: sorted(v) for k, v in found.items()}


def until(check, what: str, timeout: float = 90, every=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if every:
            every()
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {live()}")


@pytest.fixture(scope="session")
def ec2_options(ec2_endpoint) -> dict:
    """Read before a test points the var directory elsewhere (moto's files stay put)."""
    return devec2.cloud_options()


@pytest.fixture
def three_clouds(burst_site, openstack_cloud, openstack_burst, ec2_options):
    brecca, nimbus = burst_site
    brecca.engine_options["burst"]["nodes"] = "burst[1-10]"
    brecca.save()
    nimbus.priority, nimbus.max_instances = 3, 4
    nimbus.save()
    tango = Cloud.objects.create(
        machine=Machine.objects.get(name="tango"), driver="openstack", priority=1,
        options={"cloud": openstack_cloud["burst_cloud"], "loopback": True,
                 "clouds_yaml": openstack_cloud["clouds_yaml"]},
        default_image="burst-worker", max_instances=2, idle_keep=3600,
    )  # fmt: skip
    ec2 = Cloud.objects.create(
        machine=Machine.objects.create(name="ec2-east", kind=MachineKind.CLOUD,
                                       category=MachineCategory.objects.first()),
        driver="ec2", priority=2, options=ec2_options,
        default_image="burst-worker", max_instances=2, idle_keep=3600,
    )  # fmt: skip
    for cloud in (tango, ec2):
        cloud.serves.add(brecca)
    nimbus.idle_keep = 3600
    nimbus.save()
    clouds = [tango, ec2, nimbus]
    yield brecca, clouds
    # Leave no server behind in the shared engines.
    devcloud.up(log=lambda *_: None, point_machine=False)
    for cloud in (tango, ec2):
        services.forget_servers(cloud)
        driver = services.drivers.cloud(cloud)
        for server in driver.servers():
            if server.tags.get("allotment") == services.site_tag():
                driver.delete(server.id)


def test_three_drivers_share_the_demand_and_survive_a_cloud_going_away(three_clouds):
    brecca, (tango, ec2, nimbus) = three_clouds
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=2, seconds=3600, count=5)  # a VM each, on every cloud

    # Priority order, each cloud up to the site's cap: tango 2, ec2-east 2, nimbus the rest.
    until(
        lambda: live() == {"tango": ["busy"] * 2, "ec2-east": ["busy"] * 2, "nimbus": ["busy"]},
        "five VMs busy",
        every=lambda: tick(brecca, [tango, ec2, nimbus]),
    )
    assert {vm.cloud_id: vm.flavor.name for vm in VM.objects.all()} == {
        tango.pk: "burst.medium", ec2.pk: "t3.micro", nimbus.pk: "local.medium"
    }  # fmt: skip
    # (t3.micro has 2 vCPUs and 1 GiB: the smallest EC2 type for a 2-core job)

    # Two more jobs; tango may take them (cap raised), and starts booting them...
    Cloud.objects.filter(pk=tango.pk).update(max_instances=4)
    queue.submit("projecta", cores=2, seconds=3600, count=2)
    services.refresh(tango)
    cycle = services.run_cycle(brecca)
    starting = list(VM.objects.filter(cloud=tango, state="requested"))
    assert len(starting) == 2, {k: cycle.report[k] for k in ("shortfall", "refusals", "supply")}
    for vm in starting:
        reconcile.step(vm)
    assert {vm.state for vm in VM.objects.filter(pk__in=[v.pk for v in starting])} == {"booting"}
    server_ids = set(VM.objects.filter(pk__in=[v.pk for v in starting])
                     .values_list("server_id", flat=True))  # fmt: skip

    # ...when its compute API stops answering.
    devcloud.stop_component("nova-api")
    services.forget_servers(tango)
    for _ in range(services.UNHEALTHY_AFTER):
        with pytest.raises(EngineError):
            services.refresh(tango)
    tango.refresh_from_db()
    assert services.state_of(tango).health == "unhealthy"
    assert set(VM.objects.filter(pk__in=[v.pk for v in starting])
               .values_list("state", flat=True)) == {"abandoned"}  # fmt: skip

    # Its demand goes to the others: ec2-east is at its cap, so nimbus boots both.
    until(lambda: sorted(live().get("nimbus", [])) == ["busy"] * 3,
          "nimbus to take tango's demand", every=lambda: tick(brecca, [ec2, nimbus]))  # fmt: skip
    assert queue.pending_count() == 0

    # tango answers again: healthy, and the abandoned VMs' servers are deleted there.
    devcloud.up(log=lambda *_: None, point_machine=False)
    until(lambda: not VM.objects.filter(pk__in=[v.pk for v in starting])
          .exclude(state="deleted").exists(),
          "the abandoned VMs deleted", timeout=120,
          every=lambda: tick(brecca, [tango, ec2, nimbus]))  # fmt: skip
    services.forget_servers(tango)
    left = {s.id for s in services.servers_of(tango)}
    assert not (server_ids & left)
    assert services.state_of(tango).health == "healthy"
    # The busy VMs on tango kept running through it all.
    assert sorted(live()["tango"]) == ["busy", "busy"]
