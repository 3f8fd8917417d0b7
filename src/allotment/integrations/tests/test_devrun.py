"""The loopback engines' shared run-directory machinery, on real processes and files.

Records name a process by pid and start time, so a dead or reused pid is never ours; `stop`
and `terminate` end what they are given with SIGTERM and, past the timeout, SIGKILL; the
lock lets one holder in at a time per run directory, across processes and threads.
"""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from allotment.integrations import devrun

# A daemon that ignores SIGTERM once it says so: only SIGKILL ends it.
STUBBORN = textwrap.dedent("""
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring TERM", flush=True)
    time.sleep(60)
""")


def gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while devrun.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not devrun.alive(pid)


def launch_stubborn(tmp_path: Path) -> dict:
    out = tmp_path / "stubborn.out"
    entry = devrun.launch([sys.executable, "-c", STUBBORN], dict(os.environ), tmp_path, out)
    assert entry is not None
    deadline = time.monotonic() + 10
    while "ignoring TERM" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "ignoring TERM" in out.read_text()
    return entry


@pytest.fixture
def cleanup():
    """Pids to SIGKILL after the test, whatever it asserted."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if devrun.alive(pid):
            os.kill(pid, 9)


def test_the_run_directory_files_are_under_run(tmp_path):
    where = devrun.VenvRunDir(tmp_path)
    assert (where.pids, where.lock, where.users) == (
        tmp_path / "run" / "pids.json", tmp_path / "run" / "lock", tmp_path / "run" / "users.lock"
    )  # fmt: skip
    assert where.bin("pip") == tmp_path / "venv" / "bin" / "pip"
    assert where.installed_stamp == tmp_path / "venv" / ".allotment-installed"


def test_records_round_trip_and_leave_no_temporary_file(tmp_path):
    records = tmp_path / "run" / "pids.json"
    entries = {"keystone": {"pid": 123, "start": 456}, "nova-api": {"pid": 7, "start": 8}}
    devrun.save(records, entries)
    assert devrun.load(records) == entries
    devrun.save(records, {})
    assert devrun.load(records) == {}
    assert sorted(p.name for p in records.parent.iterdir()) == ["pids.json"]


def test_missing_or_garbled_records_are_none(tmp_path):
    records = tmp_path / "pids.json"
    assert devrun.load(records) == {}
    records.write_text('{"keystone": {"pid": 1')  # a write cut short
    assert devrun.load(records) == {}
    records.write_bytes(b"\xff\xfe")
    assert devrun.load(records) == {}


def test_a_process_that_ended_is_not_running(tmp_path):
    child = subprocess.Popen(["sleep", "60"])
    entry = devrun.record(child.pid)
    assert entry == {"pid": child.pid, "start": devrun.started_at(child.pid)}
    assert devrun.running(entry)
    child.kill()
    child.wait()
    assert not devrun.running(entry)
    assert devrun.record(child.pid) is None
    assert devrun.ours(entry) is None  # nothing of it left to stop


def test_a_pid_with_another_start_time_is_not_ours():
    mine = devrun.record(os.getpid())
    assert devrun.running(mine)
    reused = {"pid": os.getpid(), "start": mine["start"] - 1}
    assert not devrun.running(reused)
    assert devrun.ours(reused) is None
    assert devrun.stop({"impostor": reused}, timeout=1) == []  # and this test still runs
    assert not devrun.running(None) and not devrun.running({})


def test_stop_ends_a_daemon_with_sigterm(tmp_path, cleanup):
    entry = devrun.launch(["sleep", "60"], dict(os.environ), tmp_path, tmp_path / "sleep.out")
    cleanup.append(entry["pid"])
    assert devrun.group(entry["pid"]) == [entry["pid"]]  # a session of its own
    said = []
    began = time.monotonic()
    assert devrun.stop({"sleeper": entry}, timeout=10, log=said.append) == ["sleeper"]
    assert time.monotonic() - began < 5  # no timeout waited out
    assert said == []  # nothing had to be killed
    assert gone(entry["pid"])


def test_stop_kills_what_outlives_the_timeout(tmp_path, cleanup):
    entry = launch_stubborn(tmp_path)
    cleanup.append(entry["pid"])
    said = []
    assert devrun.stop({"stubborn": entry}, timeout=1, log=said.append) == ["stubborn"]
    assert said == [f"killed stubborn (pid {entry['pid']}): it did not stop within 1 s"]
    assert gone(entry["pid"])


def test_stop_kills_the_workers_a_dead_daemon_left_in_its_group(tmp_path, cleanup):
    # The shell forks a worker and is then killed alone: the worker stays in its group.
    out = tmp_path / "sh.out"
    entry = devrun.launch(["sh", "-c", "sleep 60 & echo $!; wait"], dict(os.environ),
                          tmp_path, out)  # fmt: skip
    deadline = time.monotonic() + 5
    while not out.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.02)
    worker = int(out.read_text())
    cleanup.extend([entry["pid"], worker])
    os.kill(entry["pid"], 9)
    assert gone(entry["pid"]) and devrun.alive(worker)
    assert devrun.ours(entry) == entry["pid"]  # its group is still ours
    assert devrun.stop({"sh": entry}, timeout=5) == ["sh"]
    assert gone(worker)


def test_terminate_sends_sigterm_then_sigkill(tmp_path, cleanup):
    polite = subprocess.Popen(["sleep", "60"])
    cleanup.append(polite.pid)
    said = []
    devrun.terminate("polite", polite.pid, timeout=10, log=said.append)
    assert polite.wait(timeout=5) == -15 and said == []
    entry = launch_stubborn(tmp_path)
    cleanup.append(entry["pid"])
    devrun.terminate("stubborn", entry["pid"], timeout=1, log=said.append)
    assert said == [f"killed stubborn (pid {entry['pid']}): it did not stop within 1 s"]
    assert gone(entry["pid"])
    devrun.terminate("stubborn", entry["pid"], timeout=1, log=said.append)  # gone: a no-op
    assert len(said) == 1


def test_children_of_finds_a_forked_child():
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert child.pid in devrun.children_of(os.getpid())
        assert devrun.children_of(child.pid) == []
    finally:
        child.kill()
        child.wait()


# Takes the lock as another `up` would, saying when it has it.
OTHER_HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from allotment.integrations import devrun
    with devrun.locked(Path(sys.argv[1])):
        print("got it", flush=True)
""")


def test_the_lock_keeps_a_second_process_out_until_released(tmp_path):
    lock = tmp_path / "run" / "lock"
    with devrun.locked(lock):
        other = subprocess.Popen([sys.executable, "-c", OTHER_HOLDER, str(lock)],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                other.communicate(timeout=1.5)  # waits: we hold it
        except BaseException:
            other.kill()
            raise
    out, _ = other.communicate(timeout=20)
    assert (out, other.returncode) == ("got it\n", 0)


def test_the_lock_keeps_another_thread_out_and_is_reentrant_in_its_own(tmp_path):
    lock = tmp_path / "lock"
    got = threading.Event()

    def other() -> None:
        with devrun.locked(lock):
            got.set()

    with devrun.locked(lock):
        with devrun.locked(lock):  # nested in the holding thread: no wait for itself
            thread = threading.Thread(target=other)
            thread.start()
            assert not got.wait(0.5)
        assert not got.wait(0.2)  # still held by the outer block
    assert got.wait(5)
    thread.join(5)


def test_locks_of_two_run_directories_do_not_wait_for_each_other(tmp_path):
    got = threading.Event()

    def other() -> None:
        with devrun.locked(tmp_path / "b" / "lock"):
            got.set()

    with devrun.locked(tmp_path / "a" / "lock"):
        thread = threading.Thread(target=other)
        thread.start()
        assert got.wait(5)
    thread.join(5)


class Failed(Exception):
    pass


def test_wait_until_returns_when_ready_and_fails_at_once_when_exited():
    calls = []

    def ready() -> bool:
        calls.append(1)
        return len(calls) == 3

    devrun.wait_until(ready, 5, exited=lambda: None, timed_out=lambda: Failed("late"))
    assert len(calls) == 3
    began = time.monotonic()
    with pytest.raises(Failed, match="exited"):
        devrun.wait_until(lambda: False, 30, exited=lambda: Failed("exited"),
                          timed_out=lambda: Failed("late"))  # fmt: skip
    assert time.monotonic() - began < 1
    with pytest.raises(Failed, match="late"):
        devrun.wait_until(lambda: False, 0.3, exited=lambda: None,
                          timed_out=lambda: Failed("late"))  # fmt: skip


def test_taken_by_names_the_holder_of_a_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert f"pid {os.getpid()} (" in devrun.taken_by(port)
    assert devrun.taken_by(port) == ""
