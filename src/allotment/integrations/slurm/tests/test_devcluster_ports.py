"""The dev cluster names a taken port and its holder before it starts anything.

It once started MariaDB on a port another process held and reported only "MariaDB did not
become ready within 30 s". These tests hold a port with a socket of their own; nothing of
Slurm or MariaDB is started.
"""

import os
import socket
from pathlib import Path

import pytest

from allotment.integrations.slurm import devcluster


@pytest.fixture
def held_port():
    """A loopback port this test process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def me() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_a_port_held_by_a_listener_is_taken_and_its_holder_named(held_port):
    assert devcluster.port_taken(held_port)
    (holder,) = devcluster.port_holders(held_port)
    assert holder.startswith(f"pid {os.getpid()} ({me()}: ")


def test_a_free_port_is_not_taken(free_port):
    assert not devcluster.port_taken(free_port)
    assert devcluster.port_holders(free_port) == []
    devcluster.check_ports({free_port: "MariaDB"})  # no error


def test_check_ports_says_which_port_for_what_and_held_by_whom(held_port, free_port):
    with pytest.raises(devcluster.ClusterError) as e:
        devcluster.check_ports({held_port: "MariaDB", free_port: "slurmdbd"})
    message = str(e.value)
    first, held, last = message.splitlines()
    assert first == "The local cluster cannot start:"
    assert held.startswith(
        f"  port {held_port} on 127.0.0.1, needed by MariaDB, "
        f"is taken by pid {os.getpid()} ({me()}: "
    )
    assert last.startswith("Stop what holds them")
    assert "slurmdbd" not in message and str(free_port) not in message


def test_up_refuses_before_starting_anything(held_port, tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOTMENT_SLURM_DIR", str(tmp_path / "slurm"))
    # Only MariaDB's port: the other engineers' real cluster may hold the usual ones.
    monkeypatch.setattr(devcluster, "component_ports", lambda: {"mariadbd": (held_port, "MariaDB")})
    monkeypatch.setattr(devcluster, "install", lambda: None)
    monkeypatch.setattr(devcluster, "write_configs", lambda where: None)

    def started(*args, **kwargs):
        raise AssertionError(f"started something: {args}")

    monkeypatch.setattr(devcluster, "munge_answers", started)
    monkeypatch.setattr(devcluster.subprocess, "Popen", started)
    monkeypatch.setattr(devcluster.subprocess, "run", started)
    with pytest.raises(devcluster.ClusterError, match=f"port {held_port} on 127.0.0.1, needed by "
                       "MariaDB, is taken by pid"):  # fmt: skip
        devcluster.up(log=lambda *_: None)


def test_the_ports_checked_are_those_the_configuration_names():
    ports = {port for port, _ in devcluster.component_ports().values()}
    assert ports == {13306, 6817, 6819, 17001, 17002, 17003, 17004}
