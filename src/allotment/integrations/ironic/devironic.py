"""A real standalone OpenStack Ironic on loopback for tests, CI and the demo (`allot dev ironic`).

One all-in-one `ironic` process (API and conductor, fake hardware, no auth, SQLite) on
127.0.0.1:6385, installed from PyPI into a virtualenv of its own and kept with its
configuration, database and logs under the run directory ($ALLOTMENT_IRONIC_DIR, else
<var>/ironic). `ironic` is a master process that forks one worker which serves the API: both
are recorded with their pid and start time, and `down` stops those and nothing else (a pid
since reused by another program is never signalled). Settings follow the measured ones in
shared/notes/ironic-standalone.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from allotment.integrations.slurm.devcluster import alive, port_holders, port_taken

HOST = "127.0.0.1"
PORT = 6385
# The release the notes measured; a newer one is a deliberate change (its pitfalls differ).
REQUIREMENT = "ironic==39.0.0"
INSTALL_TIMEOUT = 900  # s: pip with a cold cache takes about 25 s
START_TIMEOUT = 90  # s: healthy about 2.5 s after launch on an idle machine
STOP_TIMEOUT = 20  # s: a graceful stop of master and worker takes 3-4 s
MASTER, WORKER = "ironic", "ironic-worker"
VERSION_HEADER = "X-OpenStack-Ironic-API-Version"

# Our processes started in this interpreter, kept so that `down` can reap them (no zombie).
_children: dict[int, subprocess.Popen] = {}


class IronicError(RuntimeError):
    """The local Ironic could not be brought to the asked state; the message says why."""


class IronicInstallError(IronicError):
    """Ironic could not be installed into its virtualenv (no network for pip, typically)."""


def endpoint() -> str:
    return f"http://{HOST}:{PORT}"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def stamp(self) -> Path:
        """Written last by the install, holding the requirement installed: a virtualenv
        without it (an install interrupted) or for another release is made again."""
        return self.venv / ".allotment-installed"

    def bin(self, program: str) -> Path:
        return self.venv / "bin" / program

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "ironic.conf"

    @property
    def db(self) -> Path:
        return self.root / "ironic.db"

    @property
    def schema_stamp(self) -> Path:
        """The release whose schema the database has (`wipe` removes it with the database)."""
        return self.root / "ironic.db.schema"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids.json"

    @property
    def lock(self) -> Path:
        return self.root / "run" / "lock"

    @property
    def users(self) -> Path:
        """Held shared by each test session using this Ironic (integrations.ironic.testing)."""
        return self.root / "run" / "users.lock"


def layout() -> Layout:
    configured = os.environ.get("ALLOTMENT_IRONIC_DIR")
    return Layout(Path(configured) if configured else Path(settings.VAR_DIR) / "ironic")


def installed() -> bool:
    where = layout()
    return _read(where.stamp) == REQUIREMENT and where.bin("ironic").exists()


@contextmanager
def locked(where: Layout) -> Iterator[None]:
    """One `up`, `down` or install at a time per run directory, across processes: two test
    sessions starting together would otherwise both start Ironic, or one record over the
    other's pids."""
    where.lock.parent.mkdir(parents=True, exist_ok=True)
    with open(where.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(log=print) -> None:
    """Ironic from PyPI into the run directory's own virtualenv (about 25 s, 316 MB), unless
    it is there already."""
    if installed():
        return
    where = layout()
    shutil.rmtree(where.venv, ignore_errors=True)
    where.root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    log(f"installing {REQUIREMENT} into {where.venv} (about half a minute)")
    _run_install([sys.executable, "-m", "venv", str(where.venv)], "creating the virtualenv")
    _run_install(
        [str(where.bin("pip")), "install", "--quiet", "--disable-pip-version-check", REQUIREMENT],
        f"pip install {REQUIREMENT}",
    )
    where.stamp.write_text(REQUIREMENT + "\n")
    log(f"installed {REQUIREMENT} in {time.monotonic() - began:.0f} s")


def _run_install(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=_clean_env()
        )
    except subprocess.TimeoutExpired:
        raise IronicInstallError(
            f"Installing Ironic failed: {what} took more than {INSTALL_TIMEOUT} s."
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise IronicInstallError(
            f"Installing Ironic failed: {what} exited {done.returncode}:\n{tail}"
        )


def _clean_env() -> dict[str, str]:
    """Ironic's own environment: none of the project's Python paths, and no
    EventletDeprecationWarning banner (its class derives from Warning, so only `ignore`
    silences it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PYTHONWARNINGS"] = "ignore"
    return env


def write_config(where: Layout) -> None:
    for folder in (where.conf.parent, where.log, where.pids.parent):
        folder.mkdir(parents=True, exist_ok=True)
    where.conf.write_text(f"""# Written by `allot dev ironic up`; regenerated on every start.
[DEFAULT]
auth_strategy = noauth
# All in one process: the API calls the conductor in-process (SQLite wants one process).
rpc_transport = none
host = localhost
log_dir = {where.log}
use_stderr = false
minimum_memory_warning_only = true
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake,no-bios
enabled_boot_interfaces = fake
enabled_console_interfaces = fake,no-console
enabled_deploy_interfaces = fake
enabled_firmware_interfaces = fake,no-firmware
enabled_inspect_interfaces = fake,no-inspect
enabled_management_interfaces = fake
# noop and none: the defaults (flat, neutron) expect Neutron.
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = fake,no-raid
enabled_rescue_interfaces = fake,no-rescue
enabled_storage_interfaces = noop,fake
enabled_vendor_interfaces = fake,no-vendor

[api]
host_ip = {HOST}
port = {PORT}

[conductor]
automated_clean = false

[database]
connection = sqlite:///{where.db}

[dhcp]
dhcp_provider = none

[fake]
power_delay = 0
boot_delay = 0
deploy_delay = 0
""")


# --- processes ------------------------------------------------------------------------


def _started_at(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22):
    with the pid, it names one process for the machine's uptime, so a pid reused by another
    program is never taken for ours."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def record(pid: int) -> dict[str, int]:
    started = _started_at(pid)
    if started is None:
        raise IronicError(f"Ironic's process {pid} ended as soon as it started.")
    return {"pid": pid, "start": started}


def running(entry: dict | None) -> bool:
    """The recorded process is alive and is the very one recorded (same start time)."""
    if not entry or not entry.get("pid"):
        return False
    pid = int(entry["pid"])
    return alive(pid) and _started_at(pid) == entry.get("start")


def _children_of(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(proc.name))
    return found


def _load_pids(where: Layout) -> dict[str, dict]:
    try:
        return json.loads(where.pids.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _save_pids(where: Layout, pids: dict[str, dict]) -> None:
    where.pids.parent.mkdir(parents=True, exist_ok=True)
    where.pids.write_text(json.dumps(pids, indent=1))


def check_port() -> None:
    """Refuse, naming who holds it, when the API's port is taken by something not ours:
    else Ironic fails to listen and `up` only sees it never answer."""
    if not port_taken(PORT):
        return
    holders = port_holders(PORT)
    held = (
        ", ".join(holders)
        if holders
        else "a process this user cannot see (run as root, or `ss -ltnp`)"
    )
    raise IronicError(
        f"The local Ironic cannot start: port {PORT} on {HOST}, needed by the Ironic API, "
        f"is taken by {held}.\nStop it (an earlier Ironic whose records were lost shows as "
        "python ironic or `ironic: ServiceWrapper worker`), then run `allot dev ironic up` again."
    )


def answers(timeout: float = 2) -> bool:
    """An Ironic API answers at the endpoint (GET / returns its version document)."""
    try:
        with urllib.request.urlopen(endpoint() + "/", timeout=timeout) as reply:
            return reply.status == 200 and json.load(reply).get("name") == "OpenStack Ironic API"
    except (OSError, urllib.error.URLError, ValueError, AttributeError):
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _schema(where: Layout) -> None:
    """create_schema on a new database, upgrade on one made by another release, nothing
    when it is this release's (an upgrade that changes nothing still costs 2-3 s):
    create_schema refuses a database under version control, and upgrade fails from scratch
    on SQLite (an ALTER of constraints at migration 3bea56f25597)."""
    if not where.db.exists():
        action = "create_schema"
    elif _read(where.schema_stamp) != REQUIREMENT:
        action = "upgrade"
    else:
        return
    done = subprocess.run(
        [str(where.bin("ironic-dbsync")), "--config-file", str(where.conf), action],
        capture_output=True, text=True, env=_clean_env(), cwd=where.root,
    )  # fmt: skip
    if done.returncode != 0:
        if action == "create_schema":
            where.db.unlink(missing_ok=True)  # half made: the next try starts it again
        detail = _tail(where.log / "ironic-dbsync.log") or done.stderr.strip()
        raise IronicError(f"ironic-dbsync {action} exited {done.returncode}:\n{detail}")
    where.schema_stamp.write_text(REQUIREMENT + "\n")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def up(*, fresh: bool = False, log=print) -> str:
    """Install if needed and start Ironic unless ours is running; return its endpoint once
    it answers. Idempotent. `fresh` first stops it and forgets its nodes (the database)."""
    start(fresh=fresh, log=log)
    return endpoint()


def start(*, fresh: bool = False, log=print) -> bool:
    """`up`, saying whether this call started Ironic (False: ours was running already)."""
    where = layout()
    with locked(where):
        install(log=log)
        if fresh:
            _down(where, log)
            _forget(where)
        pids = _load_pids(where)
        if running(pids.get(MASTER)):
            _wait_healthy(where, pids[MASTER]["pid"])
            return False
        if running(pids.get(WORKER)):  # a worker orphaned by a SIGKILLed master holds the port
            _terminate(WORKER, pids[WORKER]["pid"], log)
        check_port()
        write_config(where)
        _schema(where)
        began = time.monotonic()
        with open(where.log / "ironic.stdout", "ab") as out:
            child = subprocess.Popen(
                [str(where.bin("ironic")), "--config-file", str(where.conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=where.root,
                env=_clean_env(), start_new_session=True,
            )  # fmt: skip
        _children[child.pid] = child
        pids = {MASTER: record(child.pid)}
        _save_pids(where, pids)
        _wait_healthy(where, child.pid)
        for pid in _children_of(child.pid):
            pids[WORKER] = record(pid)
        _save_pids(where, pids)
    log(f"Ironic is up at {endpoint()} in {time.monotonic() - began:.1f} s (logs in {where.log})")
    return True


def _wait_healthy(where: Layout, master: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if answers(timeout=1):
            return
        if not alive(master):
            break
        time.sleep(0.1)
    why = "exited" if not alive(master) else f"did not answer within {START_TIMEOUT} s"
    detail = _tail(where.log / "ironic.log") or _tail(where.log / "ironic.stdout")
    raise IronicError(f"Ironic (pid {master}) {why} at {endpoint()}; its log ends:\n{detail}")


def _terminate(name: str, pid: int, log) -> None:
    """SIGTERM, and SIGKILL if it has not ended within STOP_TIMEOUT."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _wait_gone([pid])
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        log(f"killed {name} (pid {pid}): it did not stop within {STOP_TIMEOUT} s")
        _wait_gone([pid], timeout=5)
    _reap(pid)


def _wait_gone(pids: list[int], timeout: float = STOP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        for p in pids:
            _reap(p)
        time.sleep(0.05)


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def down(*, log=print) -> bool:
    """Stop the master and its worker, by their recorded pids: SIGTERM to the master stops
    both; a worker still there after is stopped by its own pid (a SIGKILL to the master
    alone would orphan it, still holding the port); SIGKILL what outlives STOP_TIMEOUT.
    True if something of ours was stopped."""
    where = layout()
    with locked(where):
        return _down(where, log)


def _down(where: Layout, log) -> bool:
    pids = _load_pids(where)
    ours = {name: int(e["pid"]) for name, e in pids.items() if running(e)}
    if MASTER in ours:  # the worker it forked since (recorded or not) is stopped with it
        ours.update({f"{WORKER}-{p}": p for p in _children_of(ours[MASTER])})
    if not ours:
        _save_pids(where, {})
        return False
    master = ours.get(MASTER)
    if master:
        _terminate(MASTER, master, log)
    # What the master left (a worker orphaned by an earlier SIGKILL, or one it did not
    # wait for) is stopped on its own, by its recorded pid.
    for name, pid in ours.items():
        if pid != master and alive(pid):
            _terminate(name, pid, log)
    _save_pids(where, {})
    log(f"stopped Ironic (pids {', '.join(str(p) for p in sorted(set(ours.values())))})")
    return True


def wipe(*, log=print) -> None:
    """Stop Ironic and forget its nodes and logs; the virtualenv stays."""
    where = layout()
    with locked(where):
        _down(where, log)
        _forget(where)


def _forget(where: Layout) -> None:
    for path in where.root.glob("ironic.db*"):
        path.unlink()
    shutil.rmtree(where.log, ignore_errors=True)


def _count_nodes() -> int | None:
    url = endpoint() + "/v1/nodes?fields=uuid&limit=1000"
    count = 0
    try:
        while url:
            request = urllib.request.Request(url, headers={VERSION_HEADER: "1.8"})  # fields=
            with urllib.request.urlopen(request, timeout=5) as reply:
                page = json.load(reply)
            count += len(page.get("nodes", []))
            url = page.get("next")
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return count


def status() -> dict:
    where = layout()
    pids = _load_pids(where)
    components = {
        name: {"pid": pids.get(name, {}).get("pid"), "running": running(pids.get(name))}
        for name in (MASTER, WORKER)
    }
    is_up = components[MASTER]["running"] and answers()
    return {
        "up": is_up,
        "installed": installed(),
        "endpoint": endpoint(),
        "components": components,
        "nodes": _count_nodes() if is_up else None,
    }


def env_lines() -> list[str]:
    """Shell exports for the `baremetal` CLI (python-ironicclient) and openstacksdk tools."""
    return [
        "export OS_AUTH_TYPE=none",
        f"export OS_ENDPOINT={endpoint()}",
        "export OS_BAREMETAL_API_VERSION=latest",
    ]


def point_inventory_at(url: str | None = None) -> int:
    """Once Ironic is up, the ledger's inventory uses it: a provisioner "ironic" at its
    endpoint, given to every node that has the local one (or none) and is in no shift.
    Returns how many nodes were pointed; 0 when the ledger is not migrated yet."""
    from django.db import DatabaseError, transaction

    from allotment.inventory.models import Node, Provisioner, ProvisionerDriver

    try:
        with transaction.atomic():
            ironic, _ = Provisioner.objects.update_or_create(
                name="ironic",
                defaults={
                    "driver": ProvisionerDriver.IRONIC,
                    "options": {"endpoint": url or endpoint()},
                    "description": "The loopback Ironic of `allot dev ironic up`",
                },
            )
            nodes = Node.objects.filter(shift__isnull=True).exclude(provisioner=ironic)
            local = nodes.filter(provisioner__driver=ProvisionerDriver.LOCAL)
            return local.update(provisioner=ironic, provision_id="") + nodes.filter(
                provisioner__isnull=True
            ).update(provisioner=ironic)
    except DatabaseError:
        return 0
