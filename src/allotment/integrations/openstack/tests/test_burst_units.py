"""The OpenStack burst driver's own decisions, without a cloud: how Nova's and Glance's
answers map to burst's dataclasses, how errors map to EngineError, and which servers and
images a repeated boot or upload reuses (against a stand-in for openstacksdk's proxies)."""

import base64
from types import SimpleNamespace

import pytest
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from allotment.burst.engines import VM_KEY, BootRequest, EngineError, Quota, ServerStatus
from allotment.integrations.openstack.burst import (
    OpenStackCloud,
    cloud_errors,
    image_info,
    networks,
    quota_from_limits,
    server_info,
    split_checksum,
)


def nova_server(status="ACTIVE", task_state=None, **extra):
    fields = dict(id="s1", name="vm-1", status=status, task_state=task_state, fault=None,
                  metadata={VM_KEY: "vm-1"}, flavor={"original_name": "burst.small"},
                  created_at="2026-01-02T03:04:05Z")  # fmt: skip
    return SimpleNamespace(**(fields | extra))


def glance_image(**extra):
    fields = dict(id="i1", name="w", status="active", checksum="ab" * 16, hash_algo="sha512",
                  hash_value="cd" * 64, properties={}, size=42)  # fmt: skip
    return SimpleNamespace(**(fields | extra))


def test_limits_of_minus_one_are_no_limit_and_usage_is_copied():
    absolute = {"maxTotalInstances": -1, "maxTotalCores": 12, "maxTotalRAMSize": -1,
                "totalInstancesUsed": 3, "totalCoresUsed": 5, "totalRAMUsed": 2560}  # fmt: skip
    assert quota_from_limits(absolute) == Quota(
        instances=None, cores=12, ram_mb=None, used_instances=3, used_cores=5, used_ram_mb=2560
    )


@pytest.mark.parametrize(
    ("status", "task_state", "expected"),
    [
        ("BUILD", "spawning", ServerStatus.BUILDING),
        ("ACTIVE", None, ServerStatus.ACTIVE),
        ("ACTIVE", "deleting", ServerStatus.DELETING),
        ("ERROR", "deleting", ServerStatus.DELETING),
        ("SOFT_DELETED", None, ServerStatus.DELETING),
        ("SHUTOFF", None, ServerStatus.OTHER),
        ("SHELVED_OFFLOADED", None, ServerStatus.OTHER),
    ],
)
def test_nova_statuses_map_to_what_the_lifecycle_decides_on(status, task_state, expected):
    assert server_info(nova_server(status, task_state)).status == expected


def test_a_server_in_error_carries_novas_fault_and_its_tags():
    fault = {"code": 500, "message": "No valid host was found. ", "details": "trace"}
    info = server_info(nova_server("ERROR", fault=fault, metadata={VM_KEY: "vm-1", "x": "y"}))
    assert (info.status, info.fault) == (ServerStatus.ERROR, "No valid host was found.")
    assert info.tags == {VM_KEY: "vm-1", "x": "y"}
    assert (info.flavor, info.created) == ("burst.small", "2026-01-02T03:04:05Z")
    assert server_info(nova_server("ERROR")).fault == "Nova gave no fault"
    assert server_info(nova_server("ACTIVE", fault=fault)).fault == ""


def test_image_checksums_are_glances_and_the_catalogs_property():
    copied = glance_image(properties={"allotment_checksum": "SHA256:" + "EF" * 32})
    assert image_info(copied).checksums == {
        "md5": "ab" * 16, "sha512": "cd" * 64, "sha256": "ef" * 32
    }  # fmt: skip
    # Glance's own digest wins over a property claiming another for the same algorithm.
    claimed = glance_image(properties={"allotment_checksum": "00" * 16})
    assert image_info(claimed).checksums == {"md5": "ab" * 16, "sha512": "cd" * 64}
    queued = glance_image(status="queued", checksum=None, hash_algo=None, hash_value=None,
                          size=None)  # fmt: skip
    assert (image_info(queued).status, image_info(queued).checksums, image_info(queued).size) == (
        "queued", {}, 0
    )  # fmt: skip


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sha256:" + "a" * 64, ("sha256", "a" * 64)),
        ("b" * 32, ("md5", "b" * 32)),
        ("c" * 128, ("sha512", "c" * 128)),
        ("xyz", ("unknown", "xyz")),
    ],
)
def test_a_catalog_checksum_names_its_algorithm_or_its_length_does(given, expected):
    assert split_checksum(given) == expected


def test_networks_are_none_on_loopback_auto_by_default_or_the_ones_named():
    assert networks({"loopback": True}) == "none"
    assert networks({}) == "auto"
    assert networks({"networks": ["n1", "n2"]}) == [{"uuid": "n1"}, {"uuid": "n2"}]
    assert networks({"networks": "none"}) == "none"


def raised(error: Exception) -> EngineError:
    with pytest.raises(EngineError) as caught, cloud_errors("OpenStack burst cloud c: doing x"):
        raise error
    return caught.value


@pytest.mark.parametrize(
    ("error", "permanent", "says"),
    [
        (sdk.HttpException("m", details="Flavor f could not be found.", http_status=400), True,
         "OpenStack burst cloud c: doing x was refused (HTTP 400): Flavor f could not be found."),
        (sdk.NotFoundException("m", details="Image i not found.", http_status=404), True,
         "OpenStack burst cloud c: doing x was refused (HTTP 404): Image i not found."),
        (sdk.HttpException("m", details="Quota exceeded", http_status=403), True,
         "OpenStack burst cloud c: doing x was refused (HTTP 403): Quota exceeded"),
        (sdk.HttpException("m", details="busy", http_status=409), False,
         "OpenStack burst cloud c: doing x failed (HTTP 409): busy"),
        (sdk.HttpException("m", details="oops", http_status=503), False,
         "OpenStack burst cloud c: doing x failed (HTTP 503): oops"),
        (ksa.Unauthorized("bad password", http_status=401), True,
         "OpenStack burst cloud c: doing x was refused (HTTP 401): bad password (HTTP 401)"),
        (ksa.ConnectFailure("refused"), False,
         "OpenStack burst cloud c: doing x failed: the cloud cannot be reached: refused"),
        (ksa.ConnectTimeout("timed out"), False,
         "OpenStack burst cloud c: doing x failed: the cloud cannot be reached: timed out"),
        (ksa.EndpointNotFound("no compute"), True,
         "OpenStack burst cloud c: doing x failed: no compute"),
        (sdk.InvalidResponse("checksum mismatch"), False,
         "OpenStack burst cloud c: doing x failed: checksum mismatch"),
        (OSError(28, "No space left on device"), False,
         "OpenStack burst cloud c: doing x failed on this machine: [Errno 28] No space left on "
         "device"),
    ],
)  # fmt: skip
def test_errors_say_where_and_whether_asking_again_may_help(error, permanent, says):
    mapped = raised(error)
    assert (mapped.permanent, str(mapped)) == (permanent, says)


def test_a_cloud_without_a_clouds_yaml_entry_is_a_permanent_error_naming_it():
    with pytest.raises(EngineError) as caught:
        OpenStackCloud("east", {"clouds_yaml": "/nonexistent"}).servers()
    assert caught.value.permanent
    assert str(caught.value).startswith("OpenStack burst cloud east: The engine options of ")


class FakeCompute:
    """openstacksdk's compute proxy as far as boot uses it: Nova's name filter is a regex."""

    def __init__(self, *servers):
        self.listed = list(servers)
        self.created: list[dict] = []

    def servers(self, details=True, name=None):
        import re

        return [s for s in self.listed if name is None or re.search(name, s.name)]

    def create_server(self, **attrs):
        self.created.append(attrs)
        return SimpleNamespace(id=f"new{len(self.created)}")


def request(name="vm-1") -> BootRequest:
    return BootRequest(name=name, flavor_id="f", image_id="i", user_data="#cloud-config\n",
                       tags={"allotment": "site", VM_KEY: name})  # fmt: skip


def cloud_with(compute, **options) -> OpenStackCloud:
    return OpenStackCloud("c", options, conn=SimpleNamespace(compute=compute))


def test_boot_finds_the_server_of_ours_by_name_and_tag():
    compute = FakeCompute(nova_server(id="mine"))
    assert cloud_with(compute).boot(request()) == "mine"
    assert compute.created == []


def test_boot_creates_with_encoded_user_data_tags_and_the_networks():
    compute = FakeCompute(
        nova_server(id="other", metadata={}),  # same name, not booted by us
        nova_server(id="going", task_state="deleting"),  # ours, on its way out
        nova_server(id="longer", name="vm-10", metadata={VM_KEY: "vm-10"}),
    )
    assert cloud_with(compute, loopback=True, availability_zone="az1").boot(request()) == "new1"
    assert compute.created == [{
        "name": "vm-1", "flavor_id": "f", "image_id": "i",
        "user_data": base64.b64encode(b"#cloud-config\n").decode(),
        "metadata": {"allotment": "site", VM_KEY: "vm-1"}, "networks": "none",
        "availability_zone": "az1",
    }]  # fmt: skip


class FakeImages:
    def __init__(self, *images):
        self.listed = list(images)
        self.deleted: list[str] = []
        self.created: list[tuple[str, dict]] = []

    def images(self, name=None):
        return [i for i in self.listed if i.name == name]

    def delete_image(self, image, ignore_missing=True):
        self.deleted.append(image.id)

    def create_image(self, name, data, **attrs):
        self.created.append((name, {k: v for k, v in attrs.items() if k != "size"}))
        return SimpleNamespace(id="put")


@pytest.mark.parametrize(("status", "reused"), [("active", True), ("saving", True),
                                                ("queued", False), ("killed", False)])  # fmt: skip
def test_put_image_reuses_a_live_copy_and_replaces_a_dead_upload(tmp_path, status, reused):
    data = tmp_path / "w.raw"
    data.write_bytes(b"x" * 10)
    prop = {"allotment_checksum": "sha256:aa"}
    images = FakeImages(glance_image(id="old", name="w", status=status, properties=prop),
                        glance_image(id="else", name="w", properties={}))  # fmt: skip
    cloud = OpenStackCloud("c", {"disk_format": "qcow2"}, conn=SimpleNamespace(image=images))
    assert cloud.put_image("w", "sha256:aa", data) == ("old" if reused else "put")
    assert images.deleted == ([] if reused else ["old"])
    assert images.created == ([] if reused else [("w", {
        "disk_format": "qcow2", "container_format": "bare", "allow_duplicates": True,
        "disable_vendor_agent": False, "allotment_checksum": "sha256:aa",
    })])  # fmt: skip


def test_the_loopback_clouds_yaml_offers_the_burst_project_as_its_member():
    import yaml

    from allotment.integrations.openstack import devconfig

    clouds = yaml.safe_load(devconfig.clouds_yaml("tango", burst=True))["clouds"]
    assert set(clouds) == {"tango", "tango-demo", "tango-burst"}
    auth = clouds["tango-burst"]["auth"]
    assert (auth["username"], auth["password"], auth["project_name"]) == ("burst", "burst", "burst")
