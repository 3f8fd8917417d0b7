"""On SQLite one agent runs: a second one says who holds the database and exits 1, and
the lock frees itself when the first is killed (SIGKILL: no clean-up runs)."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def allot(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ALLOT, *args],
        env=env, capture_output=True, text=True, timeout=60, **kwargs,
    )  # fmt: skip


ALLOT = os.path.join(os.path.dirname(sys.executable), "allot")


def test_a_second_agent_on_sqlite_says_who_runs_and_exits_1(tmp_path):
    database = tmp_path / "ledger.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "ALLOTMENT_VAR_DIR": str(tmp_path / "var"),
    }
    assert allot(env, "migrate", "-v0").returncode == 0
    first = subprocess.Popen(
        [ALLOT, "agent", "run", "--tick", "0.2"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        lock = tmp_path / "ledger.sqlite3.agent.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().startswith(f"{first.pid} ")):
            assert time.monotonic() < deadline and first.poll() is None, "the agent did not start"
            time.sleep(0.05)
        second = allot(env, "agent", "run", "--once")
        assert second.returncode == 1
        assert second.stderr == (
            f"error: another agent is running (pid {first.pid} on host {socket.gethostname()}) "
            f"on the SQLite database {database}; only one may run on SQLite (use PostgreSQL to "
            "run several), so this one stops.\n"
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    third = allot(env, "agent", "run", "--once")
    assert (third.returncode, third.stderr) == (0, "")
