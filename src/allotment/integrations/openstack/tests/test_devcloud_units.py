"""The loopback cloud's pure parts: its configuration, its process records, its refusals,
and how a machine's options become a connection (or a clear error). No cloud needed."""

import os
import socket
import textwrap
from pathlib import Path

import pytest
import yaml

from allotment.integrations import devrun
from allotment.integrations.openstack import devcloud, devconfig
from allotment.integrations.openstack.compute import NovaHosts
from allotment.integrations.openstack.connect import CloudConfigError, CloudRef
from allotment.inventory.engines import EngineError


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALLOTMENT_OPENSTACK_DIR", str(tmp_path))
    return tmp_path


def test_nova_compute_never_sees_the_database_and_each_has_its_own_state():
    run = Path("/r")
    common = devconfig.nova_conf(run, devcloud.RABBIT_URL)
    one, two = devconfig.compute_conf(run, "cnode1"), devconfig.compute_conf(run, "node9")
    for text in (common, one):
        assert "connection" not in text and "mysql" not in text
    assert "connection = mysql+pymysql://" in devconfig.nova_db_conf(devcloud.DB_URL)
    assert "host = node9\nstate_path = /r/state/compute-node9\n" in two
    assert "state_path = /r/state/compute-cnode1" in one
    assert "compute_driver = fake.FakeDriverWithoutFakeNodes" in common
    assert "periodic_fuzzy_delay = 0" in common


def test_clouds_yaml_has_the_admin_cloud_and_a_member_one():
    clouds = yaml.safe_load(devconfig.clouds_yaml("tango"))["clouds"]
    assert set(clouds) == {"tango", "tango-demo"}
    admin = clouds["tango"]
    assert admin["auth"]["username"] == "admin" and admin["auth"]["project_name"] == "admin"
    assert admin["auth"]["auth_url"] == "http://127.0.0.1:5000/v3"
    assert admin["region_name"] == "RegionOne"


def test_env_lines_point_the_openstack_client_at_the_run_directory(run_dir):
    assert devcloud.env_lines() == [
        f"export OS_CLIENT_CONFIG_FILE={run_dir / 'clouds.yaml'}",
        "export OS_CLOUD=tango",
    ]


def test_status_with_nothing_started(run_dir):
    state = devcloud.status()
    assert (state["up"], state["components"], state["computes"]) == (False, {}, [])
    assert state["clouds_yaml"] == str(run_dir / "clouds.yaml")


def test_a_recorded_pid_now_held_by_another_program_is_not_ours():
    me = os.getpid()
    started = devrun.started_at(me)
    assert devcloud.running({"pid": me, "start": started})
    assert not devcloud.running({"pid": me, "start": started - 1})
    assert not devcloud.running({"pid": 2**22 + 12345, "start": 1})
    assert not devcloud.running(None)


def test_a_bad_host_name_is_refused_before_anything_starts(run_dir):
    for bad in ("", "a b", "../x", "-x", "x" * 64):
        with pytest.raises(devcloud.CloudError, match="cannot run a compute named"):
            devcloud.start_compute(bad)


def test_starting_a_compute_without_the_cloud_says_to_start_the_cloud(run_dir):
    with pytest.raises(devcloud.CloudError, match="allot dev openstack up"):
        devcloud.start_compute("node4")


def test_stopping_what_never_ran_is_a_no_op(run_dir):
    devcloud.stop_compute("node4")
    devcloud.stop_compute("node4", wait=False)
    assert not devcloud.down(log=lambda *_: None)
    assert not devcloud.compute_running("node4")


def test_a_taken_port_is_named_with_its_holder():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        original = devconfig.PORTS["placement"]
        devconfig.PORTS["placement"] = port
        try:
            with pytest.raises(devcloud.CloudError) as refused:
                devcloud.check_ports(["placement", "nova-conductor"])
        finally:
            devconfig.PORTS["placement"] = original
    message = str(refused.value)
    assert f"port {port} on 127.0.0.1, needed by placement, is taken by pid {os.getpid()}" in (
        message
    )


def test_machine_options_must_name_a_cloud_and_an_existing_clouds_yaml(tmp_path, monkeypatch):
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE", raising=False)
    with pytest.raises(CloudConfigError, match="name no cloud"):
        CloudRef.from_options({}, "tango")
    with pytest.raises(CloudConfigError, match="OS_CLIENT_CONFIG_FILE is not set"):
        CloudRef.from_options({"cloud": "tango"}, "tango")
    with pytest.raises(CloudConfigError, match="does not exist"):
        CloudRef.from_options({"cloud": "tango", "clouds_yaml": str(tmp_path / "none")})
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    assert CloudRef.from_options({"cloud": "tango"}) == CloudRef("tango", str(path))


class Machine:
    def __init__(self, options):
        self.engine_options = options

    def __str__(self) -> str:
        return "tango"


def test_a_machine_without_usable_options_is_a_permanent_error(tmp_path):
    with pytest.raises(EngineError) as failed:
        NovaHosts(Machine({"cloud": "tango"} | {"clouds_yaml": "/nonexistent"})).host("cnode1")
    assert failed.value.permanent and "does not exist" in str(failed.value)
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds: {other: {auth: {auth_url: 'http://127.0.0.1:1/v3'}}}\n")
    with pytest.raises(EngineError) as failed:
        NovaHosts(Machine({"cloud": "tango", "clouds_yaml": str(path)})).host("cnode1")
    assert failed.value.permanent and "cloud tango" in str(failed.value)


def test_a_cloud_that_does_not_answer_is_a_temporary_error_naming_cloud_host_and_call(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "clouds.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        clouds:
          gone:
            auth: {{auth_url: "http://127.0.0.1:{port}/v3", username: a, password: a,
                    project_name: a, user_domain_name: Default, project_domain_name: Default}}
            region_name: RegionOne
        """)
    )
    hosts = NovaHosts(Machine({"cloud": "gone", "clouds_yaml": str(path)}))
    with pytest.raises(EngineError) as failed:
        hosts.drain("cnode1", "allotment shift 1")
    assert not failed.value.permanent
    assert str(failed.value).startswith(
        "OpenStack cloud gone: disabling the nova-compute service for host cnode1 failed"
    )


def test_the_cloud_is_initialised_again_unless_its_databases_hold_this_run_directorys_token(
    run_dir, monkeypatch
):
    where = devcloud.layout()
    monkeypatch.setattr(devcloud, "_owner_token", lambda: "abc")
    assert devcloud._needs_init(where)  # never initialised here
    where.init_stamp.parent.mkdir(parents=True)
    where.init_stamp.write_text('{"token": "abc"}')
    assert not devcloud._needs_init(where)
    monkeypatch.setattr(devcloud, "_owner_token", lambda: "")  # databases dropped
    assert devcloud._needs_init(where)
    monkeypatch.setattr(devcloud, "_owner_token", lambda: "def")  # another run directory's
    assert devcloud._needs_init(where)
