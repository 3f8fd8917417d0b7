"""The local Ironic's process bookkeeping, without starting Ironic.

A recorded process is ours only while its pid *and* start time match, so a pid reused by
another program is never signalled; `down` stops the worker too, even when the master
leaves it behind (a SIGKILLed master orphans its worker, which keeps the API's port).
"""

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from allotment.integrations.ironic import devironic


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> devironic.Layout:
    monkeypatch.setenv("ALLOTMENT_IRONIC_DIR", str(tmp_path / "ironic"))
    return devironic.layout()


@pytest.fixture
def held_port(monkeypatch):
    """The API's port, moved to a loopback port this test process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setattr(devironic, "PORT", port)
        yield port


def me() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_the_run_directory_is_the_variable_when_set(run_dir, tmp_path):
    assert run_dir.root == tmp_path / "ironic"
    assert run_dir.venv == tmp_path / "ironic" / "venv"
    assert run_dir.conf == tmp_path / "ironic" / "etc" / "ironic.conf"


def test_the_run_directory_defaults_to_var(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("ALLOTMENT_IRONIC_DIR", raising=False)
    settings.VAR_DIR = tmp_path / "var"
    assert devironic.layout().root == tmp_path / "var" / "ironic"


def test_a_process_is_ours_only_with_its_start_time():
    mine = devironic.record(os.getpid())
    assert devironic.running(mine)
    # The same pid started at another time: a reused pid, someone else's process.
    assert not devironic.running({"pid": os.getpid(), "start": mine["start"] + 1})
    assert not devironic.running({"pid": 2**22 + 12345, "start": mine["start"]})
    assert not devironic.running(None)
    assert not devironic.running({})


def test_recording_a_process_already_gone_says_so():
    with pytest.raises(devironic.IronicError, match="ended as soon as it started"):
        devironic.record(2**22 + 12345)


def test_installed_needs_the_stamp_of_this_release(run_dir):
    assert not devironic.installed()
    (run_dir.venv / "bin").mkdir(parents=True)
    run_dir.bin("ironic").write_text("")
    assert not devironic.installed()  # an install interrupted before its stamp
    run_dir.stamp.write_text("ironic==1.0.0\n")
    assert not devironic.installed()  # another release
    run_dir.stamp.write_text(devironic.REQUIREMENT + "\n")
    assert devironic.installed()


def test_a_taken_port_names_its_holder(held_port):
    with pytest.raises(devironic.IronicError) as e:
        devironic.check_port()
    message = str(e.value)
    assert f"port {held_port} on 127.0.0.1, needed by the Ironic API, is taken by " in message
    assert f"pid {os.getpid()} ({me()}: " in message


def test_up_refuses_a_taken_port_before_starting_anything(run_dir, held_port, monkeypatch):
    monkeypatch.setattr(devironic, "install", lambda log: None)

    def started(*args, **kwargs):
        raise AssertionError(f"started something: {args}")

    monkeypatch.setattr(devironic.subprocess, "Popen", started)
    monkeypatch.setattr(devironic.subprocess, "run", started)
    with pytest.raises(devironic.IronicError, match=f"port {held_port} on 127.0.0.1.*is taken by"):
        devironic.up(log=lambda *_: None)


def test_the_schema_is_created_then_left_then_upgraded_for_another_release(run_dir, monkeypatch):
    actions = []

    def dbsync(command, **kwargs):
        actions.append(command[-1])
        run_dir.db.write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(devironic.subprocess, "run", dbsync)
    devironic.write_config(run_dir)
    devironic._schema(run_dir)
    devironic._schema(run_dir)  # this release's schema: nothing to do
    run_dir.schema_stamp.write_text("ironic==38.0.0\n")
    devironic._schema(run_dir)
    assert actions == ["create_schema", "upgrade"]
    assert run_dir.schema_stamp.read_text() == devironic.REQUIREMENT + "\n"


def test_a_failed_create_schema_shows_its_log_and_starts_again_next_time(run_dir, monkeypatch):
    def dbsync(command, **kwargs):
        run_dir.db.write_bytes(b"half made")
        (run_dir.log / "ironic-dbsync.log").write_text("ERROR: the real reason\n")
        return subprocess.CompletedProcess(command, 1, "", "")

    monkeypatch.setattr(devironic.subprocess, "run", dbsync)
    devironic.write_config(run_dir)
    with pytest.raises(devironic.IronicError, match="create_schema exited 1:\nERROR: the real"):
        devironic._schema(run_dir)
    assert not run_dir.db.exists()


def test_the_configuration_is_the_measured_one(run_dir):
    devironic.write_config(run_dir)
    conf = run_dir.conf.read_text()
    for line in ("auth_strategy = noauth", "rpc_transport = none", "port = 6385",
                 "enabled_network_interfaces = noop", "dhcp_provider = none",
                 f"connection = sqlite:///{run_dir.db}", f"log_dir = {run_dir.log}"):  # fmt: skip
        assert line in conf.splitlines(), line


# A stand-in for `ironic`: a master that forks a worker and, on SIGTERM, dies alone.
MASTER = textwrap.dedent("""
    import os, sys, time
    child = os.fork()
    if child == 0:
        os.setsid()  # out of the master's way, as a worker left orphaned would be
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    time.sleep(60)
""")


def start_master() -> tuple[subprocess.Popen, int]:
    master = subprocess.Popen([sys.executable, "-c", MASTER], stdout=subprocess.PIPE, text=True)
    worker = int(master.stdout.readline())
    return master, worker


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while devironic.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not devironic.alive(pid)


def test_down_stops_the_master_and_the_worker_it_leaves(run_dir):
    master, worker = start_master()
    try:
        devironic._save_pids(
            run_dir,
            {devironic.MASTER: devironic.record(master.pid),
             devironic.WORKER: devironic.record(worker)},
        )  # fmt: skip
        said = []
        assert devironic.down(log=said.append)
        master.wait(timeout=5)
        assert gone(worker)
        assert said == [
            f"stopped Ironic (pids {', '.join(map(str, sorted([master.pid, worker])))})"
        ]
        assert devironic._load_pids(run_dir) == {}
        assert not devironic.down(log=said.append)  # nothing of ours left
    finally:
        for pid in (master.pid, worker):
            if devironic.alive(pid):
                os.kill(pid, 9)


def test_down_finds_a_worker_forked_since_it_was_recorded(run_dir):
    master, worker = start_master()
    try:
        devironic._save_pids(run_dir, {devironic.MASTER: devironic.record(master.pid)})
        assert devironic.down(log=lambda *_: None)
        master.wait(timeout=5)
        assert gone(worker)
    finally:
        for pid in (master.pid, worker):
            if devironic.alive(pid):
                os.kill(pid, 9)


def test_down_never_signals_a_pid_now_held_by_another_program(run_dir):
    mine = devironic.record(os.getpid())
    devironic._save_pids(
        run_dir, {devironic.MASTER: {"pid": os.getpid(), "start": mine["start"] - 1}}
    )
    assert not devironic.down(log=lambda *_: None)  # and this test is still running


def test_status_of_nothing_started(run_dir, monkeypatch):
    monkeypatch.setattr(devironic, "answers", lambda timeout=2: False)
    assert devironic.status() == {
        "up": False,
        "installed": False,
        "endpoint": "http://127.0.0.1:6385",
        "components": {
            "ironic": {"pid": None, "running": False},
            "ironic-worker": {"pid": None, "running": False},
        },
        "nodes": None,
    }


def test_env_lines_point_the_baremetal_client_at_it():
    assert devironic.env_lines() == [
        "export OS_AUTH_TYPE=none",
        "export OS_ENDPOINT=http://127.0.0.1:6385",
        "export OS_BAREMETAL_API_VERSION=latest",
    ]
