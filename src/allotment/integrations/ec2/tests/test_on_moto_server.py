"""The EC2 driver against moto's server on loopback: what burst sees of quota, flavors,
images and servers, boots and deletes asked twice, images copied in, and failures."""

import socket
import threading

import pytest

from allotment.burst.engines import TAG_KEY, VM_KEY, ServerStatus
from allotment.integrations.ec2 import devec2
from allotment.integrations.ec2.driver import Ec2Cloud
from allotment.inventory.engines import EngineError

pytestmark = [pytest.mark.ec2, pytest.mark.slow]


def test_quota_counts_limits_and_what_a_boot_uses(ec2_cloud):
    before = ec2_cloud.quota()
    assert (before.instances, before.cores, before.ram_mb) == (20, None, None)
    ec2_cloud.boot(ec2_cloud.request(flavor_id="t3.medium"))
    after = ec2_cloud.quota()
    assert after.used_instances - before.used_instances == 1
    assert after.used_cores - before.used_cores == 2
    assert after.used_ram_mb - before.used_ram_mb == 4096


def test_flavors_are_the_offered_instance_types(ec2_cloud):
    assert [(f.name, f.id, f.cores, f.ram_mb, f.disk_gb) for f in ec2_cloud.flavors()] == [
        ("t3.micro", "t3.micro", 2, 1024, 0),
        ("t3.small", "t3.small", 2, 2048, 0),
        ("t3.medium", "t3.medium", 2, 4096, 0),
        ("c5.xlarge", "c5.xlarge", 4, 8192, 0),
    ]


def test_seeded_image_lists_with_its_checksum(ec2_cloud):
    (worker,) = [i for i in ec2_cloud.images() if i.name == devec2.SEED_IMAGE]
    assert worker.status == "active"
    assert worker.checksums == {"sha256": devec2.SEED_CHECKSUM.removeprefix("sha256:")}


def test_boot_twice_with_one_name_is_one_instance_tagged_and_building(ec2_cloud):
    request = ec2_cloud.request()
    first = ec2_cloud.boot(request)
    assert ec2_cloud.boot(request) == first
    mine = [s for s in ec2_cloud.servers() if s.tags.get(VM_KEY) == request.name]
    assert [s.id for s in mine] == [first]
    (server,) = mine
    assert server.name == request.name
    assert server.tags == {TAG_KEY: "test-site", VM_KEY: request.name, "Name": request.name}
    assert server.flavor == "t3.micro"
    assert server.status in (ServerStatus.BUILDING, ServerStatus.ACTIVE)  # moto: at once


def test_delete_twice_is_fine_and_the_server_goes(ec2_cloud):
    server_id = ec2_cloud.boot(ec2_cloud.request())
    ec2_cloud.delete(server_id)
    ec2_cloud.delete(server_id)
    ec2_cloud.delete("i-0123456789abcdef0")  # never existed
    statuses = {s.id: s.status for s in ec2_cloud.servers()}
    assert statuses.get(server_id, "gone") in (ServerStatus.DELETING, "gone")
    statuses = {s.id: s.status for s in ec2_cloud.servers()}
    assert server_id not in statuses  # moto: terminated on the next look


def test_a_name_booted_again_after_its_delete_is_a_new_instance(ec2_cloud):
    request = ec2_cloud.request(user_data="#cloud-config\n# second life\n")
    first = ec2_cloud.boot(request)
    ec2_cloud.delete(first)
    ec2_cloud.servers()  # moto: shutting-down, then terminated on the next look
    second = ec2_cloud.boot(request)
    assert second != first


def test_unknown_instance_type_or_image_is_permanent(ec2_cloud):
    with pytest.raises(EngineError, match=r"run_instances \(.*\) failed: InvalidInstanceType") as e:
        ec2_cloud.boot(ec2_cloud.request("badtype", flavor_id="t3.bogus"))
    assert e.value.permanent
    with pytest.raises(EngineError, match=r"failed: InvalidAMIID.NotFound") as e:
        ec2_cloud.boot(ec2_cloud.request("badimage", image_id="ami-0123456789abcdef0"))
    assert e.value.permanent


def test_an_offered_type_ec2_lacks_is_permanent_and_named(ec2_endpoint):
    cloud = Ec2Cloud("moto-test", {**devec2.cloud_options(), "instance_types": ["t3.bogus"]})
    with pytest.raises(EngineError, match="describe_instance_types failed: Invalid") as e:
        cloud.flavors()
    assert e.value.permanent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_stopped_server_is_temporary_and_named(ec2_endpoint):
    options = {**devec2.cloud_options(), "endpoint_url": f"http://127.0.0.1:{free_port()}"}
    cloud = Ec2Cloud("down-cloud", options)
    with pytest.raises(EngineError, match=r"EC2 cloud down-cloud: describe_instances failed, "
                       "the API did not answer") as e:  # fmt: skip
        cloud.servers()
    assert not e.value.permanent


def test_a_hung_api_is_temporary_within_the_timeout(ec2_endpoint):
    with socket.socket() as hung:  # accepts connections, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        cloud = Ec2Cloud("hung-cloud", {**devec2.cloud_options(), "endpoint_url": url,
                                        "timeout": 0.3})  # fmt: skip
        timer = threading.Timer(10, hung.close)
        timer.start()
        try:
            with pytest.raises(EngineError, match="hung-cloud: describe_account_attributes") as e:
                cloud.quota()
        finally:
            timer.cancel()
    assert not e.value.permanent


def test_wrong_keys_are_not_read_from_the_environment(ec2_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nonesuch")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    cloud = Ec2Cloud("moto-env", devec2.cloud_options())
    assert devec2.SEED_IMAGE in [i.name for i in cloud.images()]


def test_put_image_copies_a_raw_disk_in_once(ec2_cloud, tmp_path):
    disk = tmp_path / "worker.raw"
    disk.write_bytes(b"boot" + b"\0" * (2 * 1024 * 1024) + b"end")
    name = f"{ec2_cloud.prefix}-image"
    checksum = "sha256:" + "c" * 64
    image_id = ec2_cloud.put_image(name, checksum, disk)
    assert ec2_cloud.put_image(name, checksum, disk) == image_id
    (listed,) = [i for i in ec2_cloud.images() if i.name == name]
    assert (listed.id, listed.status, listed.checksums, listed.size) == (
        image_id,
        "active",
        {"sha256": "c" * 64},
        2 * 1024 * 1024 + 7,
    )
    with pytest.raises(EngineError, match=f"an image named {name} exists already") as e:
        ec2_cloud.put_image(name, "sha256:" + "d" * 64, disk)
    assert e.value.permanent


def test_put_image_after_an_interrupted_copy_uses_the_snapshot_it_left(ec2_cloud, tmp_path):
    disk = tmp_path / "worker.raw"
    disk.write_bytes(b"x" * 3000)
    name = f"{ec2_cloud.prefix}-resumed"
    checksum = "sha256:" + "f" * 64
    left = ec2_cloud.upload(name, checksum, disk, 3000)  # then the agent died
    image_id = ec2_cloud.put_image(name, checksum, disk)
    snapshots = ec2_cloud.call(
        "test", "describe_snapshots", OwnerIds=["self"],
        Filters=[{"Name": "tag:allotment-image", "Values": [name]}],
    )["Snapshots"]  # fmt: skip
    assert [s["SnapshotId"] for s in snapshots] == [left]
    assert [i.id for i in ec2_cloud.images() if i.name == name] == [image_id]
