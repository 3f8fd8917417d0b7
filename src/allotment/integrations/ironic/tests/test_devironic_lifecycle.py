"""The local Ironic started, found running, SIGKILLed and stopped, for real.

It runs on a port of its own in a run directory of its own (sharing the installed
virtualenv), so the session's Ironic that other tests use is left alone.
"""

import os
import signal
import socket
import time

import pytest

from allotment.integrations.ironic import devironic

pytestmark = [pytest.mark.ironic, pytest.mark.slow]


@pytest.fixture
def own_ironic(tmp_path, monkeypatch):
    shared = devironic.layout()
    try:
        devironic.install(log=lambda *_: None)
    except devironic.IronicInstallError as e:
        pytest.skip(f"the local Ironic could not be installed: {e}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(devironic, "PORT", port)
    monkeypatch.setenv("ALLOTMENT_IRONIC_DIR", str(tmp_path / "ironic"))
    (tmp_path / "ironic").mkdir()
    (tmp_path / "ironic" / "venv").symlink_to(shared.venv)
    yield port
    devironic.down(log=lambda *_: None)


def listening(port: int) -> bool:
    return devironic.port_taken(port)


def test_up_status_down(own_ironic, capsys):
    said = []
    began = time.monotonic()
    url = devironic.up(log=said.append)
    started = time.monotonic() - began
    assert url == f"http://127.0.0.1:{own_ironic}"
    assert said[-1].startswith(f"Ironic is up at {url} in ")
    status = devironic.status()
    assert status["up"] and status["installed"] and status["nodes"] == 0
    master, worker = status["components"]["ironic"], status["components"]["ironic-worker"]
    assert master["running"] and worker["running"] and master["pid"] != worker["pid"]

    began = time.monotonic()
    assert devironic.up(log=said.append) == url  # already up: nothing started
    again = time.monotonic() - began
    assert devironic.status()["components"]["ironic"]["pid"] == master["pid"]

    began = time.monotonic()
    assert devironic.down(log=said.append)
    stopped = time.monotonic() - began
    assert not devironic.alive(master["pid"]) and not devironic.alive(worker["pid"])
    assert not listening(own_ironic)
    assert not devironic.status()["up"]
    assert not devironic.down(log=said.append)
    with capsys.disabled():
        print(f"\nIronic: start {started:.1f} s, up again {again:.2f} s, stop {stopped:.1f} s")


def test_a_sigkilled_master_leaves_a_worker_that_up_and_down_stop(own_ironic):
    devironic.up(log=lambda *_: None)
    first = devironic.status()["components"]
    os.kill(first["ironic"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while devironic.alive(first["ironic"]["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert devironic.alive(first["ironic-worker"]["pid"])  # orphaned, holding the port
    assert listening(own_ironic)

    devironic.up(log=lambda *_: None)  # stops the orphan, starts anew
    assert not devironic.alive(first["ironic-worker"]["pid"])
    second = devironic.status()["components"]
    assert second["ironic"]["running"] and second["ironic"]["pid"] != first["ironic"]["pid"]

    os.kill(second["ironic"]["pid"], signal.SIGKILL)
    time.sleep(0.3)
    assert devironic.down(log=lambda *_: None)  # the orphaned worker, by its recorded pid
    assert not devironic.alive(second["ironic-worker"]["pid"])
    assert not listening(own_ironic)
