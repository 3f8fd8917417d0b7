"""The OpenStack burst driver against the real loopback cloud's burst project: quota, boot
(idempotent by name), servers, delete, image copies, and how the cloud's refusals and
absences become EngineError. Each test's servers are named after it and deleted after it."""

import os
import uuid
from pathlib import Path

import pytest

from allotment.burst.engines import (
    TAG_KEY,
    VM_KEY,
    BootRequest,
    EngineError,
    ServerStatus,
)
from allotment.integrations.openstack import devcloud, devconfig
from allotment.integrations.openstack.burst import OpenStackCloud
from allotment.integrations.openstack.testing import wait_until

pytestmark = [pytest.mark.openstack, pytest.mark.slow]

# The burst-worker image's digests, computed once by hand from devconfig.burst_image_data().
MD5 = "29f1919c16cbd2f244531310ca294616"
SHA256 = "970f889d2218dbabbedf49ea7ef98a3919b7b88a63d245d927f3d589330b1a0a"
SHA512 = (
    "4684567bc43c5fd07295d58e846a6a68188ab78fba64f4011cec76b13faeb2ef"
    "d5804d9c8dfdd7f2a68cf7a3f7fcb0b92649b099d9b099f219bf01d5374fb0c6"
)


@pytest.fixture(scope="module")
def catalog(openstack_burst) -> dict[str, str]:
    """Flavor and image ids by name, as the driver lists them."""
    flavors = {f.name: f.id for f in openstack_burst.flavors()}
    images = {i.name: i.id for i in openstack_burst.images()}
    return {**flavors, **images}


@pytest.fixture
def vm_name(request, openstack_burst):
    """make(n) -> a VM name for this test; its servers are deleted at the end of the test."""
    prefix = f"b{os.getpid()}-{request.node.name[5:20].replace('_', '-')}"
    yield lambda n=0: f"{prefix}-{n}"

    def ours():
        return [s for s in openstack_burst.servers() if s.tags.get(VM_KEY, "").startswith(prefix)]

    for server in ours():
        openstack_burst.delete(server.id)
    wait_until(lambda: not ours(), f"the servers of {prefix} deleted", timeout=120)


def request_for(name: str, catalog: dict, flavor: str = "burst.small") -> BootRequest:
    return BootRequest(
        name=name, flavor_id=catalog[flavor], image_id=catalog[devconfig.BURST_IMAGE],
        user_data="#cloud-config\nhostname: " + name + "\n",
        tags={TAG_KEY: "test-site", VM_KEY: name},
    )  # fmt: skip


def server(cloud: OpenStackCloud, server_id: str):
    return next((s for s in cloud.servers() if s.id == server_id), None)


def test_the_burst_project_offers_its_flavors_and_image(openstack_burst):
    flavors = {f.name: (f.cores, f.ram_mb, f.disk_gb) for f in openstack_burst.flavors()}
    assert flavors["burst.small"] == (1, 512, 1)
    assert flavors["burst.medium"] == (2, 1024, 1)
    image = next(i for i in openstack_burst.images() if i.name == devconfig.BURST_IMAGE)
    assert (image.status, image.size) == ("active", 65536)
    # Glance's own hashes, and the catalog's sha256 the loopback cloud records on it
    assert image.checksums == {"md5": MD5, "sha512": SHA512, "sha256": SHA256}


def test_quota_is_the_burst_projects_own_and_counts_a_boot(openstack_burst, catalog, vm_name):
    before = openstack_burst.quota()
    assert (before.instances, before.cores, before.ram_mb) == (6, 12, 6144)
    openstack_burst.boot(request_for(vm_name(), catalog, "burst.medium"))

    def counted():
        now = openstack_burst.quota()
        return now.used_instances == before.used_instances + 1 and now

    after = wait_until(counted, "the boot counted in /limits", timeout=60)
    assert (after.used_cores - before.used_cores, after.used_ram_mb - before.used_ram_mb) == (
        2,
        1024,
    )


def test_boot_of_a_name_asked_twice_is_one_server(openstack_burst, catalog, vm_name):
    name = vm_name()
    first = openstack_burst.boot(request_for(name, catalog))
    again = openstack_burst.boot(request_for(name, catalog))
    assert again == first
    assert [s.id for s in openstack_burst.servers() if s.tags.get(VM_KEY) == name] == [first]


def test_servers_carry_the_tags_and_reach_active(openstack_burst, catalog, vm_name):
    name = vm_name()
    booted = openstack_burst.boot(request_for(name, catalog))
    seen = server(openstack_burst, booted)
    assert seen.status in (ServerStatus.BUILDING, ServerStatus.ACTIVE)
    assert (seen.name, seen.tags) == (name, {TAG_KEY: "test-site", VM_KEY: name})
    assert seen.flavor == "burst.small" and seen.created
    wait_until(lambda: server(openstack_burst, booted).status == ServerStatus.ACTIVE,
               f"{name} active", timeout=90)  # fmt: skip


def test_delete_twice_and_of_an_unknown_server_is_fine(openstack_burst, catalog, vm_name):
    name = vm_name()
    booted = openstack_burst.boot(request_for(name, catalog))
    openstack_burst.delete(booted)
    openstack_burst.delete(booted)
    openstack_burst.delete(str(uuid.uuid4()))
    wait_until(lambda: server(openstack_burst, booted) is None, f"{name} gone", timeout=90)
    openstack_burst.delete(booted)
    # the name is free again: a new boot is a new server
    assert openstack_burst.boot(request_for(name, catalog)) != booted


def test_an_image_fetched_and_put_under_another_name_keeps_its_checksums(
    openstack_burst, catalog, tmp_path
):
    path = openstack_burst.fetch_image(catalog[devconfig.BURST_IMAGE], tmp_path / "cache")
    assert path.read_bytes() == devconfig.burst_image_data()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    name = f"copy-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    put = openstack_burst.put_image(name, f"sha256:{SHA256}", path)
    try:
        assert openstack_burst.put_image(name, f"sha256:{SHA256}", path) == put
        copy = wait_until(
            lambda: next((i for i in openstack_burst.images()
                          if i.id == put and i.status == "active"), None),
            f"image {name} active", timeout=60,
        )  # fmt: skip
        assert (copy.name, copy.size) == (name, 65536)
        assert copy.checksums == {"md5": MD5, "sha512": SHA512, "sha256": SHA256}
    finally:
        openstack_burst.conn.image.delete_image(put, ignore_missing=True)


def test_a_flavor_or_image_the_cloud_lacks_is_a_permanent_refusal(openstack_burst, catalog):
    flavorless = BootRequest(
        name="never",
        flavor_id="no-such-flavor",
        image_id=catalog[devconfig.BURST_IMAGE],
        user_data="",
        tags={},
    )
    with pytest.raises(EngineError) as refused:
        openstack_burst.boot(flavorless)
    assert refused.value.permanent
    said = str(refused.value)
    assert said.startswith(f"OpenStack burst cloud {openstack_burst.name}: booting server never")
    assert "(HTTP 400)" in said and "no-such-flavor" in said
    with pytest.raises(EngineError) as missing:
        openstack_burst.fetch_image(str(uuid.uuid4()), "/nonexistent")
    assert missing.value.permanent and "(HTTP 404)" in str(missing.value)


def test_nova_api_down_is_a_temporary_error_and_glance_still_answers(openstack_burst):
    devcloud.stop_component("nova-api")
    try:
        with pytest.raises(EngineError) as down:
            openstack_burst.quota()
        assert not down.value.permanent
        assert str(down.value).startswith(
            f"OpenStack burst cloud {openstack_burst.name}: reading the limits (GET /limits) "
            "failed: the cloud cannot be reached"
        )
        assert devconfig.BURST_IMAGE in {i.name for i in openstack_burst.images()}
    finally:
        devcloud.up(log=lambda *_: None, point_machine=False)
    assert openstack_burst.quota().instances == 6


def test_an_unreachable_keystone_is_a_temporary_error(openstack_cloud, tmp_path):
    text = Path(openstack_cloud["clouds_yaml"]).read_text().replace(":5000/", ":1/")
    (tmp_path / "clouds.yaml").write_text(text)
    cloud = OpenStackCloud("nowhere", {"cloud": openstack_cloud["burst_cloud"],
                                       "clouds_yaml": str(tmp_path / "clouds.yaml")})  # fmt: skip
    with pytest.raises(EngineError) as down:
        cloud.servers()
    assert not down.value.permanent
    assert str(down.value).startswith(
        "OpenStack burst cloud nowhere: listing the servers failed: the cloud cannot be reached"
    )
