"""The Ironic provisioner's pure parts, without Ironic: how states, images and failures
translate into what the shift decides on."""

import socket
from types import SimpleNamespace

import pytest
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from allotment.integrations.ironic import provisioner as ip
from allotment.integrations.ironic.provisioner import IronicProvisioner, instance_info, status_of
from allotment.inventory.engines import EngineError, ImageSpec, Provision


def node(state, *, image="", error=None, maintenance=False, reason=None, power=None):
    return SimpleNamespace(
        provision_state=state,
        instance_info={"image_source": image} if image else {},
        last_error=error,
        is_maintenance=maintenance,
        maintenance_reason=reason,
        power_state=power,
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("available", Provision.AVAILABLE),
        ("deploying", Provision.DEPLOYING),
        ("wait call-back", Provision.DEPLOYING),
        ("deploy hold", Provision.DEPLOYING),
        ("active", Provision.ACTIVE),
        ("deploy failed", Provision.FAILED),
        ("clean failed", Provision.FAILED),
        ("error", Provision.FAILED),
        ("deleting", Provision.UNDEPLOYING),
        ("cleaning", Provision.UNDEPLOYING),
        ("clean wait", Provision.UNDEPLOYING),
        ("enroll", Provision.OTHER),
        ("verifying", Provision.OTHER),
        ("manageable", Provision.OTHER),
        ("inspecting", Provision.OTHER),
        ("inspect failed", Provision.OTHER),
        ("rescue", Provision.OTHER),
        ("a state of a later Ironic", Provision.OTHER),
    ],
)
def test_ironic_states_map_to_what_the_shift_decides_on(state, expected):
    assert status_of(node(state)).state == expected


def test_an_unknown_node_is_missing():
    assert status_of(None).state == Provision.MISSING


def test_the_image_is_reported_while_deploying_deployed_or_failed_only():
    url = "http://images.example/a.qcow2"
    assert status_of(node("active", image=url)).image == url
    assert status_of(node("deploying", image=url)).image == url
    assert status_of(node("deploy failed", image=url)).image == url
    assert status_of(node("available", image=url)).image == ""


def test_the_error_is_ironics_own_words_else_what_holds_the_node():
    failed = status_of(node("deploy failed", error="Deploy step failed: boom"))
    assert failed.error == "Deploy step failed: boom"
    assert status_of(node("manageable")).error == "Ironic provision state 'manageable'"
    held = status_of(node("active", maintenance=True, reason="fan broken", power="power on"))
    assert (held.state, held.error, held.power) == (Provision.ACTIVE, "in maintenance: fan broken",
                                                    "power on")  # fmt: skip
    assert status_of(node("active")).error == ""


def test_a_sha256_checksum_goes_where_ironic_reads_its_algorithm():
    image = ImageSpec("rocky", "http://images.example/r.qcow2", "sha256:" + "ab" * 32)
    assert instance_info(image) == {
        "image_source": "http://images.example/r.qcow2",
        "image_os_hash_algo": "sha256",
        "image_os_hash_value": "ab" * 32,
    }


def test_a_bare_md5_or_a_checksum_file_url_is_image_checksum():
    md5 = ImageSpec("old", "http://images.example/o.img", "0" * 32)
    assert instance_info(md5)["image_checksum"] == "0" * 32
    listed = ImageSpec("listed", "http://images.example/l.img", "http://images.example/SUMS")
    assert instance_info(listed) == {
        "image_source": "http://images.example/l.img",
        "image_checksum": "http://images.example/SUMS",
    }
    assert instance_info(ImageSpec("none", "http://images.example/n.img", "")) == {
        "image_source": "http://images.example/n.img"
    }


def test_options_without_an_endpoint_or_cloud_are_refused_for_good():
    with pytest.raises(EngineError, match="neither an 'endpoint' nor a 'cloud'") as e:
        IronicProvisioner({"driver": "ipmi"}).statuses(["n1"])
    assert e.value.permanent


@pytest.fixture
def no_pause(monkeypatch):
    monkeypatch.setattr(ip, "BACKOFF", (0, 0, 0, 0, 0))


def flaky(failures: list[Exception], result="done"):
    calls = []

    def call(baremetal):
        calls.append(baremetal)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    return call, calls


def offline() -> IronicProvisioner:
    """A provisioner whose connection is a stand-in: nothing here reaches a network."""
    p = IronicProvisioner({"endpoint": "http://127.0.0.1:6385"})
    p._conn = SimpleNamespace(baremetal="the proxy")
    return p


def http_error(cls, status: int, details: str):
    e = cls(message=f"{status}", details=details)
    e.status_code = status
    return e


def test_a_reset_connection_is_retried(no_pause):
    call, calls = flaky([ksa.ConnectFailure("Connection reset by peer")] * 3)
    p = offline()
    assert p.request("get", "n1", call) == "done"
    assert calls == ["the proxy"] * 4


def test_a_connection_failing_every_time_is_a_temporary_error_naming_the_node(no_pause):
    call, calls = flaky([ksa.ConnectFailure("Connection refused")] * 10)
    p = offline()
    with pytest.raises(EngineError) as e:
        p.request("get", "n1", call)
    assert len(calls) == len(ip.BACKOFF) + 1
    assert str(e.value) == (
        "Ironic (http://127.0.0.1:6385): get node n1 failed (after 6 attempts): "
        "could not reach Ironic: Connection refused"
    )
    assert not e.value.permanent


def test_a_locked_node_is_retried_another_conflict_is_not(no_pause):
    locked = http_error(sdk.ConflictException, 409, "Node n1 is locked by host localhost")
    call, calls = flaky([locked, locked])
    p = offline()
    assert p.request("provision 'active' of", "n1", call) == "done"
    taken = http_error(sdk.ConflictException, 409, "A port with MAC address x already exists")
    call, calls = flaky([taken])
    with pytest.raises(EngineError, match="HTTP 409: A port with MAC") as e:
        p.request("create port x for", "n1", call)
    assert len(calls) == 1 and not e.value.permanent


def test_a_bad_request_is_permanent_a_server_error_is_not(no_pause):
    p = offline()
    refused = http_error(sdk.BadRequestException, 400, 'The requested action "deleted" can not')
    with pytest.raises(EngineError) as e:
        p.request("provision 'deleted' of", "n1", flaky([refused])[0])
    assert e.value.permanent and "node n1" in str(e.value) and "HTTP 400" in str(e.value)
    broken = http_error(sdk.HttpException, 503, "Service Unavailable")
    with pytest.raises(EngineError) as e:
        p.request("get", "n1", flaky([broken])[0])
    assert not e.value.permanent
    unknown = http_error(sdk.NotFoundException, 404, "Node n1 could not be found.")
    with pytest.raises(EngineError, match="Ironic does not know it") as e:
        p.request("get", "n1", flaky([unknown])[0])
    assert e.value.permanent


def test_no_ironic_listening_is_a_temporary_error_naming_ironic_and_the_node():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once the probe closes
    p = IronicProvisioner({"endpoint": f"http://127.0.0.1:{port}", "timeout": 5})
    with pytest.raises(EngineError) as e:
        p.undeploy("n1")
    assert str(e.value).startswith(f"Ironic (http://127.0.0.1:{port}): get node n1 failed")
    assert not e.value.permanent


class FakeBaremetal:
    """Stands in for openstacksdk's baremetal proxy: one node, and the calls made to it.
    For the states the fake hardware cannot reach (a failed deploy, a failed clean)."""

    def __init__(self, state, image="", *, refuse=False, then=None):
        self.node = node(state, image=image, error="boom" if "fail" in state else None)
        self.calls = []
        self.refuse = refuse  # provision requests answer 400 ...
        self.then = then  # ... after moving the node to this state (an answer lost)

    def get_node(self, ident, fields=None):
        return self.node

    def update_node(self, ident, **changes):
        self.node.instance_info = changes["instance_info"]
        self.calls.append(("update", changes["instance_info"]["image_source"]))

    def set_node_provision_state(self, ident, action, wait=False):
        assert wait is False
        self.calls.append(("provision", action))
        if self.then:
            self.node.provision_state = self.then
        if self.refuse:
            raise http_error(sdk.BadRequestException, 400, f"cannot {action}")


def provisioner_on(fake: FakeBaremetal) -> IronicProvisioner:
    p = IronicProvisioner({"endpoint": "http://127.0.0.1:6385"})
    p._conn = SimpleNamespace(baremetal=fake)
    return p


IMAGE = ImageSpec("rocky", "http://images.example/r.qcow2", "")


@pytest.mark.parametrize(
    ("state", "action"),
    [("available", "active"), ("deploy failed", "active"), ("active", "rebuild"),
     ("error", "rebuild")],
)  # fmt: skip
def test_deploy_asks_what_ironic_allows_from_each_state(state, action):
    fake = FakeBaremetal(state, image="http://images.example/old.qcow2")
    provisioner_on(fake).deploy("n1", IMAGE)
    assert fake.calls == [("update", IMAGE.source_url), ("provision", action)]


@pytest.mark.parametrize("state", ["deploying", "wait call-back", "active"])
def test_deploy_leaves_a_node_deploying_or_deployed_with_that_image(state):
    fake = FakeBaremetal(state, image=IMAGE.source_url)
    provisioner_on(fake).deploy("n1", IMAGE)
    assert fake.calls == []


@pytest.mark.parametrize("state", ["deploying", "cleaning", "deleting"])
def test_deploy_while_another_transition_runs_is_a_temporary_error(state):
    fake = FakeBaremetal(state, image="http://images.example/old.qcow2")
    with pytest.raises(EngineError, match=f"node n1 is .*{state}") as e:
        provisioner_on(fake).deploy("n1", IMAGE)
    assert not e.value.permanent and fake.calls == []


@pytest.mark.parametrize("state", ["active", "deploy failed", "error", "wait call-back"])
def test_undeploy_asks_ironic_to_delete_the_instance(state):
    fake = FakeBaremetal(state)
    provisioner_on(fake).undeploy("n1")
    assert fake.calls == [("provision", "deleted")]


@pytest.mark.parametrize("state", ["available", "deleting", "cleaning", "clean wait"])
def test_undeploy_leaves_a_node_undeployed_or_on_its_way(state):
    fake = FakeBaremetal(state)
    provisioner_on(fake).undeploy("n1")
    assert fake.calls == []


def test_undeploy_of_a_failed_clean_needs_an_operator():
    with pytest.raises(EngineError, match="node n1 failed cleaning \\(boom\\)") as e:
        provisioner_on(FakeBaremetal("clean failed")).undeploy("n1")
    assert e.value.permanent


def test_undeploy_while_deploying_is_a_temporary_error():
    with pytest.raises(EngineError, match="undeploy it once the deploy ends") as e:
        provisioner_on(FakeBaremetal("deploying")).undeploy("n1")
    assert not e.value.permanent


def test_a_refusal_of_what_was_done_already_is_success():
    # The request went through but its answer was lost; the retry is refused.
    fake = FakeBaremetal("active", refuse=True, then="deleting")
    provisioner_on(fake).undeploy("n1")
    fake = FakeBaremetal("available", refuse=True, then="deploying")
    provisioner_on(fake).deploy("n1", IMAGE)
    # A refusal that left the node where it was is an error.
    with pytest.raises(EngineError, match="HTTP 400: cannot deleted") as e:
        provisioner_on(FakeBaremetal("active", refuse=True)).undeploy("n1")
    assert e.value.permanent
