"""A real standalone OpenStack Ironic on loopback for tests, CI and the demo (`allot dev ironic`).

One all-in-one `ironic` process (API and conductor, fake hardware, no auth, SQLite) on
127.0.0.1:6385, installed from PyPI into a virtualenv of its own and kept with its
configuration, database and logs under the run directory ($ALLOTMENT_IRONIC_DIR, else
<var>/ironic). `ironic` is a master process that forks one worker which serves the API: both
are recorded with their pid and start time, and `down` stops those and nothing else (a pid
since reused by another program is never signalled; integrations.devrun keeps the records).
Settings follow the measured ones in shared/notes/ironic-standalone.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from allotment.integrations import devrun
from allotment.integrations.devrun import alive, running
from allotment.integrations.devrun import port_taken as port_taken  # the tests probe with it

HOST = "127.0.0.1"
PORT = 6385
# The release the notes measured; a newer one is a deliberate change (its pitfalls differ).
REQUIREMENT = "ironic==39.0.0"
INSTALL_TIMEOUT = 900  # s: pip with a cold cache takes about 25 s
START_TIMEOUT = 90  # s: healthy about 2.5 s after launch on an idle machine
STOP_TIMEOUT = 20  # s: a graceful stop of master and worker takes 3-4 s
MASTER, WORKER = "ironic", "ironic-worker"
VERSION_HEADER = "X-OpenStack-Ironic-API-Version"


class IronicError(RuntimeError):
    """The local Ironic could not be brought to the asked state; the message says why."""


class IronicInstallError(IronicError):
    """Ironic could not be installed into its virtualenv (no network for pip, typically)."""


def endpoint() -> str:
    return f"http://{HOST}:{PORT}"


@dataclass(frozen=True)
class Layout(devrun.VenvRunDir):
    stamp = devrun.VenvRunDir.installed_stamp  # the name this module and its tests use

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


def layout() -> Layout:
    return Layout(devrun.run_root("ALLOTMENT_IRONIC_DIR", "ironic"))


def installed() -> bool:
    where = layout()
    return _read(where.stamp) == REQUIREMENT and where.bin("ironic").exists()


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


def record(pid: int) -> dict[str, int]:
    """Ironic's process `pid` with its start time (devrun), which must still be running."""
    entry = devrun.record(pid)
    if entry is None:
        raise IronicError(f"Ironic's process {pid} ended as soon as it started.")
    return entry


def _load_pids(where: Layout) -> dict[str, dict]:
    return devrun.load(where.pids)


def _save_pids(where: Layout, pids: dict[str, dict]) -> None:
    devrun.save(where.pids, pids)


def check_port() -> None:
    """Refuse, naming who holds it, when the API's port is taken by something not ours:
    else Ironic fails to listen and `up` only sees it never answer."""
    held = devrun.taken_by(PORT, "a process this user cannot see (run as root, or `ss -ltnp`)")
    if not held:
        return
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
        detail = devrun.tail(where.log / "ironic-dbsync.log", 15) or done.stderr.strip()
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
    with devrun.locked(where.lock):
        install(log=log)
        if fresh:
            _down(where, log)
            _forget(where)
        pids = _load_pids(where)
        if running(pids.get(MASTER)):
            _wait_healthy(where, pids[MASTER]["pid"])
            return False
        if running(pids.get(WORKER)):  # a worker orphaned by a SIGKILLed master holds the port
            devrun.terminate(WORKER, pids[WORKER]["pid"], STOP_TIMEOUT, log)
        check_port()
        write_config(where)
        _schema(where)
        began = time.monotonic()
        master = devrun.spawn(
            [str(where.bin("ironic")), "--config-file", str(where.conf)],
            _clean_env(), where.root, where.log / "ironic.stdout",
        )  # fmt: skip
        pids = {MASTER: record(master)}
        _save_pids(where, pids)
        _wait_healthy(where, master)
        for pid in devrun.children_of(master):
            pids[WORKER] = record(pid)
        _save_pids(where, pids)
    log(f"Ironic is up at {endpoint()} in {time.monotonic() - began:.1f} s (logs in {where.log})")
    return True


def _wait_healthy(where: Layout, master: int) -> None:
    def failed() -> IronicError:
        why = "exited" if not alive(master) else f"did not answer within {START_TIMEOUT} s"
        log = where.log
        detail = devrun.tail(log / "ironic.log", 15) or devrun.tail(log / "ironic.stdout", 15)
        return IronicError(f"Ironic (pid {master}) {why} at {endpoint()}; its log ends:\n{detail}")

    devrun.wait_until(
        lambda: answers(timeout=1), START_TIMEOUT,
        exited=lambda: None if alive(master) else failed(), timed_out=failed,
    )  # fmt: skip


def down(*, log=print) -> bool:
    """Stop the master and its worker, by their recorded pids: SIGTERM to the master stops
    both; a worker still there after is stopped by its own pid (a SIGKILL to the master
    alone would orphan it, still holding the port); SIGKILL what outlives STOP_TIMEOUT.
    True if something of ours was stopped."""
    where = layout()
    with devrun.locked(where.lock):
        return _down(where, log)


def _down(where: Layout, log) -> bool:
    pids = _load_pids(where)
    ours = {name: int(e["pid"]) for name, e in pids.items() if running(e)}
    if MASTER in ours:  # the worker it forked since (recorded or not) is stopped with it
        ours.update({f"{WORKER}-{p}": p for p in devrun.children_of(ours[MASTER])})
    if not ours:
        _save_pids(where, {})
        return False
    master = ours.get(MASTER)
    if master:
        devrun.terminate(MASTER, master, STOP_TIMEOUT, log)
    # What the master left (a worker orphaned by an earlier SIGKILL, or one it did not
    # wait for) is stopped on its own, by its recorded pid.
    for name, pid in ours.items():
        if pid != master and alive(pid):
            devrun.terminate(name, pid, STOP_TIMEOUT, log)
    _save_pids(where, {})
    log(f"stopped Ironic (pids {', '.join(str(p) for p in sorted(set(ours.values())))})")
    return True


def wipe(*, log=print) -> None:
    """Stop Ironic and forget its nodes and logs; the virtualenv stays."""
    where = layout()
    with devrun.locked(where.lock):
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
