"""Daemons a dev engine starts, recorded so that it stops those and nothing else.

Each daemon is launched in a session of its own (its pid is also its process group id, which
its workers share) and recorded in a JSON file as {name: {"pid", "start"}}: the start time
in clock ticks since boot names one process, so a pid since reused by another program is
never signalled. Stopping sends SIGTERM to each daemon, waits for its whole group (gunicorn
and oslo.service masters fork workers) and kills what is left after the timeout. Generic:
devcloud uses it for the loopback OpenStack cloud.
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
from pathlib import Path

from allotment.integrations.ironic.devironic import running
from allotment.integrations.slurm.devcluster import alive

__all__ = ["alive", "running"]

# Our daemons started by this interpreter, so that stopping them reaps them (no zombie).
_children: dict[int, subprocess.Popen] = {}
_lock = threading.RLock()
_depth = 0


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """One starter or stopper at a time, across threads and processes; re-entrant within a
    thread (a flock is per open file, so a nested open would wait for itself)."""
    global _depth
    with _lock:
        if _depth:
            _depth += 1
            try:
                yield
            finally:
                _depth -= 1
            return
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _depth = 1
            try:
                yield
            finally:
                _depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


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


def group(pgid: int) -> list[int]:
    """Live members of process group `pgid`: a daemon and the workers it forked. A group id is
    not reused while it has members, so the workers a dead daemon left are still ours."""
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            fields = _stat(int(proc.name))
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(proc.name))
    return members


def load(records: Path) -> dict[str, dict]:
    try:
        return json.loads(records.read_text())
    except (OSError, ValueError):
        return {}


def save(records: Path, entries: dict[str, dict]) -> None:
    records.parent.mkdir(parents=True, exist_ok=True)
    temporary = records.with_suffix(".tmp")
    temporary.write_text(json.dumps(entries, indent=1))
    temporary.replace(records)


def launch(argv: list[str], env: dict[str, str], cwd: Path, output: Path) -> dict | None:
    """Start a daemon in a session of its own, its output appended to `output`; its record,
    or None when it ended at once."""
    with open(output, "ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 cwd=cwd, env=env, start_new_session=True)  # fmt: skip
    _children[child.pid] = child
    started = started_at(child.pid)
    return None if started is None else {"pid": child.pid, "start": started}


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


def stop(
    entries: dict[str, dict], timeout: float, log: Callable[[str], object] = print
) -> list[str]:
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


def tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
