"""Pytest fixtures for tests against the real loopback cloud (marker `openstack`).

A pytest plugin: `pytest_plugins = ["allotment.integrations.openstack.testing"]`. The cloud
is started once per test session if it is not up, and stopped at the end if the session
started it. It lives at $ALLOTMENT_OPENSTACK_DIR (else <var>/openstack: a fresh var directory
means a fresh install, about 1.5 min), so test runs can share one installed and initialised
cloud. Without the system MariaDB and RabbitMQ, or when the services cannot be installed
(no package index), the tests are skipped with the reason.

Tests create their own flavor, image and servers and delete their servers; they leave the
default hypervisors cnode1 and cnode2 enabled. Burst's tests use the burst project
(openstack_burst), whose quota is its own.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator

import pytest

from allotment.integrations.openstack import devcloud

FLAVOR = "allot.test"
IMAGE = "allot-test"
POLL = 0.2


@pytest.fixture(scope="session")
def openstack_cloud() -> Iterator[dict]:
    missing = devcloud.missing_prerequisites()
    if missing:
        pytest.skip(f"the loopback OpenStack cloud cannot run here: {missing}")
    users = devcloud.layout().root / "run" / "users.lock"
    users.parent.mkdir(parents=True, exist_ok=True)
    with open(users, "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # another session may be using it till we are done
        was_up = devcloud.status()["up"]
        try:
            info = devcloud.up(log=lambda *_: None, point_machine=False)
        except devcloud.CloudInstallError as e:
            pytest.skip(f"the loopback OpenStack cloud cannot be installed: {e}")
        except devcloud.CloudError as e:
            pytest.fail(f"the loopback OpenStack cloud did not start: {e}", pytrace=False)
        yield info
        if was_up:
            return
        try:  # leave the machine as we found it, unless another session still uses the cloud
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        devcloud.down(log=lambda *_: None)


@pytest.fixture(scope="session")
def openstack_conn(openstack_cloud):
    """An admin connection to the cloud, through its clouds.yaml only."""
    from allotment.integrations.openstack.connect import CloudRef, connection

    return connection(CloudRef(openstack_cloud["cloud"], openstack_cloud["clouds_yaml"]))


@pytest.fixture(scope="session")
def openstack_burst(openstack_cloud):
    """The cloud's burst project (quota 6 instances, 12 cores, 6144 MB; flavors burst.small
    and burst.medium; image burst-worker) as a burst cloud, through its clouds.yaml entry."""
    from allotment.integrations.openstack.burst import OpenStackCloud

    options = {"cloud": openstack_cloud["burst_cloud"], "loopback": True,
               "clouds_yaml": openstack_cloud["clouds_yaml"]}  # fmt: skip
    return OpenStackCloud(openstack_cloud["burst_cloud"], options)


@pytest.fixture
def tango(openstack_cloud, example):
    """The example site's machine tango, pointed at the loopback cloud."""
    from allotment.resources.models import Machine

    assert devcloud.point_machine_at("tango")
    return Machine.objects.get(name="tango")


@pytest.fixture(scope="session")
def boot_args(openstack_conn) -> dict:
    """Flavor and image for tiny test servers (made once; kept for later runs)."""
    compute = openstack_conn.compute
    flavor = compute.find_flavor(FLAVOR) or compute.create_flavor(
        name=FLAVOR, vcpus=1, ram=64, disk=1
    )
    image = openstack_conn.image.find_image(IMAGE) or openstack_conn.image.create_image(
        name=IMAGE, data=b"\0" * 1024, disk_format="raw", container_format="bare"
    )
    return {"flavor_id": flavor.id, "image_id": image.id}


@pytest.fixture
def boot(openstack_conn, boot_args) -> Iterator[Callable[..., list[str]]]:
    """boot(host, count, prefix, **create_server_args) -> ids: servers forced onto `host`
    (availability zone nova:<host>, admin only), networks 'none' (the only kind the Neutron
    stub allows), ACTIVE when returned. Every server booted is deleted at the end of the test."""
    made: list[str] = []

    def boot_on(host: str, count: int = 1, prefix: str = "t", **extra) -> list[str]:
        ids = []
        for n in range(count):
            server = openstack_conn.compute.create_server(
                name=f"{prefix}-{host}-{n}", networks="none", availability_zone=f"nova:{host}",
                **boot_args, **extra,
            )  # fmt: skip
            made.append(server.id)
            ids.append(server.id)
        wait_servers(openstack_conn, ids, lambda s: s.status == "ACTIVE", "ACTIVE")
        return ids

    yield boot_on
    compute = openstack_conn.compute
    for sid in made:
        compute.delete_server(sid, ignore_missing=True)
    wait_until(lambda: not any(s.id in made for s in compute.servers(all_projects=True)),
               "the test's servers deleted", timeout=120)  # fmt: skip


def wait_servers(conn, ids, pred, what: str, timeout: float = 120) -> dict:
    """Poll one server list until pred holds for each of `ids`; fail on ERROR."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        current = {s.id: s for s in conn.compute.servers(all_projects=True) if s.id in wanted}
        broken = [(s.name, s.fault) for s in current.values() if s.status == "ERROR"]
        assert not broken, f"servers in ERROR: {broken}"
        if len(current) == len(wanted) and all(pred(s) for s in current.values()):
            return current
        assert time.monotonic() < deadline, f"servers not {what} within {timeout} s: " + str(
            [(s.name, s.status, s.task_state, s.compute_host) for s in current.values()]
        )
        time.sleep(POLL)


def wait_until(check: Callable[[], object], what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(POLL)


@pytest.fixture(scope="session")
def spare_host(openstack_cloud) -> Iterator[str]:
    """A hypervisor of this session's own, so that a test may drain and evacuate it while
    other sessions use cnode1 and cnode2: started once, and taken out of the cloud at the end
    (its compute service deleted, its state wiped)."""
    from types import SimpleNamespace

    from allotment.integrations.openstack.compute import NovaHosts

    host = f"spare{os.getpid()}"
    devcloud.start_compute(host, wait=True)
    yield host
    options = {"cloud": openstack_cloud["cloud"], "clouds_yaml": openstack_cloud["clouds_yaml"],
               "loopback": True}  # fmt: skip
    hosts = NovaHosts(SimpleNamespace(engine_options=options))

    def gone() -> bool:
        hosts.stop(host)
        return not hosts.host(host).known

    wait_until(gone, f"{host} taken out of the cloud", timeout=90)
