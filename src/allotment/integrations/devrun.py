"""The run directory and processes of a loopback engine (`allot dev ironic|openstack|ec2`).

Each engine keeps, under its run directory, run/pids.json: the processes it started, as
{name: {"pid", "start"}}. The start time in clock ticks since boot names one process for the
machine's uptime, so a pid since reused by another program is never taken for ours, nor
signalled. run/lock is held by one `up`, `down` or install at a time, across threads and
processes; run/users.lock is held shared by each test session using the engine (the engine's
testing.py), so that the last one out may stop what it started.

A daemon is launched in a session of its own: its pid is also its process group id, which
the workers it forks share, so stopping the group stops them too. What to start, how to tell
that it answers and what to say when it does not stay in each engine's own module.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# Generic, but kept in the Slurm engine's module for now; engines take them from here.
from allotment.integrations.slurm.devcluster import alive, port_holders, port_taken

__all__ = ["alive", "port_holders", "port_taken"]

Log = Callable[[str], object]
UNSEEN = "a process this user cannot see (`ss -ltnp`)"


def run_root(variable: str, name: str) -> Path:
    """An engine's run directory: $`variable` when set (a lasting one that test runs share),
    else <var>/`name`."""
    configured = os.environ.get(variable)
    return Path(configured) if configured else Path(settings.VAR_DIR) / name


@dataclass(frozen=True)
class RunDir:
    """Where an engine keeps its records; each engine's Layout adds its own files."""

    root: Path

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids.json"

    @property
    def lock(self) -> Path:
        return self.root / "run" / "lock"

    @property
    def users(self) -> Path:
        """Held shared by each test session using this engine (its testing.py)."""
        return self.root / "run" / "users.lock"


@dataclass(frozen=True)
class VenvRunDir(RunDir):
    """A run directory with the engine's own virtualenv (its pinned releases conflict with
    the project's, so it never shares the project's virtualenv) and a folder of logs."""

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    def bin(self, program: str) -> Path:
        return self.venv / "bin" / program

    @property
    def installed_stamp(self) -> Path:
        """Written last by the install, holding the requirements installed: a virtualenv
        without it (an install interrupted) or for other releases is made again."""
        return self.venv / ".allotment-installed"


# --- the lock -----------------------------------------------------------------------------


class _Holder:
    """This process's hold on one lock file: a flock is per open file, so a nested `locked`
    in the thread that holds it would wait for itself; it counts instead."""

    def __init__(self) -> None:
        self.thread = threading.RLock()
        self.depth = 0


_holders: dict[Path, _Holder] = {}
_holders_guard = threading.Lock()


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """One starter or stopper at a time per run directory, across threads and processes;
    re-entrant within a thread. Two test sessions starting together would otherwise both
    start the engine, or one record over the other's pids."""
    with _holders_guard:
        holder = _holders.setdefault(lock_file, _Holder())
    with holder.thread:
        if holder.depth:
            holder.depth += 1
            try:
                yield
            finally:
                holder.depth -= 1
            return
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            holder.depth = 1
            try:
                yield
            finally:
                holder.depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


# --- the records --------------------------------------------------------------------------


def load(records: Path) -> dict[str, dict]:
    """The recorded processes; none when the file is missing or unreadable."""
    try:
        return json.loads(records.read_text())
    except (OSError, ValueError):
        return {}


def save(records: Path, entries: dict[str, dict]) -> None:
    """Replace the records at once: a reader never sees half a file."""
    records.parent.mkdir(parents=True, exist_ok=True)
    temporary = records.with_suffix(".tmp")
    temporary.write_text(json.dumps(entries, indent=1))
    temporary.replace(records)


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def started_at(pid: int) -> int | None:
    """Start time in clock ticks since boot (field 22); `running` compares it with the record."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def record(pid: int) -> dict | None:
    """The record naming process `pid`, or None when it has ended already."""
    started = started_at(pid)
    return None if started is None else {"pid": pid, "start": started}


def running(entry: dict | None) -> bool:
    """The recorded process is alive and is the very one recorded (same start time)."""
    if not entry or not entry.get("pid"):
        return False
    pid = int(entry["pid"])
    return alive(pid) and started_at(pid) == entry.get("start")


def _processes(matching: Callable[[list[str]], bool]) -> list[int]:
    """The pids whose /proc/<pid>/stat fields (from the state on) match."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            fields = _stat(int(proc.name))
            if fields and matching(fields):
                found.append(int(proc.name))
    return found


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a master's forked workers)."""
    return _processes(lambda fields: int(fields[1]) == pid)


def group(pgid: int) -> list[int]:
    """Live members of process group `pgid`: a daemon and the workers it forked. A group id is
    not reused while it has members, so the workers a dead daemon left are still ours."""
    return _processes(lambda fields: fields[0] != "Z" and int(fields[2]) == pgid)


# --- starting -----------------------------------------------------------------------------

# Our daemons started by this interpreter, so that stopping them reaps them (no zombie).
_children: dict[int, subprocess.Popen] = {}


def spawn(argv: list[str], env: dict[str, str], cwd: Path, output: Path) -> int:
    """Start a daemon in a session of its own, its output appended to `output`; its pid."""
    with open(output, "ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 cwd=cwd, env=env, start_new_session=True)  # fmt: skip
    _children[child.pid] = child
    return child.pid


def launch(argv: list[str], env: dict[str, str], cwd: Path, output: Path) -> dict | None:
    """`spawn`, and the daemon's record, or None when it ended at once."""
    return record(spawn(argv, env, cwd, output))


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    exited: Callable[[], Exception | None],
    timed_out: Callable[[], Exception],
) -> None:
    """Poll `ready` every 0.1 s until it holds. Raise what `exited` returns as soon as it
    returns something (what was starting has ended: no use waiting out the timeout), or
    what `timed_out` returns once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        failure = exited()
        if failure is not None:
            raise failure
        time.sleep(0.1)
    raise timed_out()


def taken_by(port: int, unseen: str = UNSEEN) -> str:
    """Who holds `port` on 127.0.0.1, "pid N (name: command line)", or `unseen` when it is
    taken by a process we cannot see; "" when it is free."""
    if not port_taken(port):
        return ""
    return ", ".join(port_holders(port)) or unseen


# --- stopping -----------------------------------------------------------------------------


def reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def signal_group(pgid: int, sig: int) -> None:
    for pid in group(pgid):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def ours(entry: dict | None) -> int | None:
    """The pid (and group) of a record that is still ours to stop: the very process recorded,
    or the workers it left when it died."""
    if not entry or not entry.get("pid"):
        return None
    pid = int(entry["pid"])
    if running(entry) or (not alive(pid) and group(pid)):
        return pid
    return None


def stop(entries: dict[str, dict], timeout: float, log: Log = print) -> list[str]:
    """SIGTERM each recorded daemon that is ours, in parallel; wait for their groups; kill
    what is left after `timeout`. Returns the names stopped."""
    pids = {name: pid for name, entry in entries.items() if (pid := ours(entry)) is not None}
    for pid in pids.values():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group(p) for p in pids.values()):
        reap()
        time.sleep(0.1)
    for name, pid in pids.items():
        if group(pid):
            signal_group(pid, signal.SIGKILL)
            log(f"killed {name} (pid {pid}): it did not stop within {timeout:.0f} s")
    while any(group(p) for p in pids.values()) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    reap()
    return list(pids)


def terminate(name: str, pid: int, timeout: float, log: Log = print) -> None:
    """One process, not its group: SIGTERM, and SIGKILL if it has not ended within
    `timeout`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait_gone([pid], timeout)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        log(f"killed {name} (pid {pid}): it did not stop within {timeout:.0f} s")
        wait_gone([pid], timeout=5)
    reap()


def wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)


def tail(path: Path, lines: int = 12) -> str:
    """The last `lines` of a log, for an error message ("" when there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
