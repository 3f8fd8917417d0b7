"""A real OpenStack compute cloud on loopback for tests, CI and the demo (`allot dev openstack`).

Keystone, Placement, Glance, nova-api, nova-conductor, nova-scheduler and one nova-compute
per hypervisor (Nova's fake driver, each with its own `host`), installed from PyPI into a
virtualenv of their own under the run directory ($ALLOTMENT_OPENSTACK_DIR, else
<var>/openstack) and listening on 127.0.0.1. Their databases are in the system MariaDB and
Nova's RPC goes over the system RabbitMQ, on a vhost of its own. Only Neutron is a stand-in
(neutron_stub). It is the example site's cloud "tango": region RegionOne, hypervisors cnode1
and cnode2; its credentials are in the run directory's clouds.yaml, never in the ledger.
For burst it also holds a project "burst" with a quota of its own, the burst flavors and the
image burst-worker (offer_burst), as the clouds.yaml entry tango-burst.

Every process started here is recorded with its pid and start time, and `down` stops those
(and their workers) and nothing else. Settings and pitfalls: shared/notes/openstack-on-loopback.md.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from allotment.integrations import devrun
from allotment.integrations.devrun import running
from allotment.integrations.openstack import devconfig

CLOUD = "tango"
BURST_CLOUD = f"{CLOUD}-burst"  # the burst project's clouds.yaml entry (offer_burst)
REGION = devconfig.REGION
DEFAULT_COMPUTES = ("cnode1", "cnode2")
# The releases the notes measured (Nova 34, "2025.2"); a newer one is a deliberate change.
REQUIREMENTS = (
    "nova==34.0.0",
    "openstack-placement==16.0.0",
    "glance==33.0.0",
    "keystone==30.0.0",
    "PyMySQL",
    "gunicorn",
)
# MariaDB databases <PREFIX>_keystone, ... and user <PREFIX>; RabbitMQ vhost and user <PREFIX>.
PREFIX = "allot_os"
DB_URL = f"mysql+pymysql://{PREFIX}:{PREFIX}@127.0.0.1/{PREFIX}"
RABBIT_URL = f"rabbit://{PREFIX}:{PREFIX}@127.0.0.1:5672/{PREFIX}"
DATABASES = ("keystone", "placement", "glance", "nova_api", "nova_cell0", "nova", "allotment")
# The processes `up` starts, in order; computes come after the conductor consumes.
CORE = (
    "neutron-stub",
    "keystone",
    "placement",
    "glance-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-api",
)
COMPUTE = "nova-compute-"  # + host
INSTALL_TIMEOUT = 1200  # s: pip with a cold cache takes about 55 s
START_TIMEOUT = 120  # s: the whole cloud is up in 7-15 s on an idle machine
STOP_TIMEOUT = 30  # s: nova-compute's graceful stop takes about 6 s
LAUNCHERS = ("wsgi_serve.py", "neutron_stub.py")


class CloudError(RuntimeError):
    """The local cloud could not be brought to the asked state; the message says why."""


class CloudInstallError(CloudError):
    """The services could not be installed into their virtualenv (no package index, typically)."""


@dataclass(frozen=True)
class Layout(devrun.VenvRunDir):
    @property
    def init_stamp(self) -> Path:
        """Written last by `init`, with the token also stored in the cloud's own database:
        a run directory whose token the database does not hold (wiped, or initialised since
        by another run directory) is initialised again."""
        return self.root / "state" / "init.json"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def launchers(self) -> Path:
        return self.root / "bin"

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    def compute_conf(self, host: str) -> Path:
        return self.etc / "nova" / f"compute-{host}.conf"


def layout() -> Layout:
    return Layout(devrun.run_root("ALLOTMENT_OPENSTACK_DIR", "openstack"))


# --- install ----------------------------------------------------------------------------


def installed() -> bool:
    where = layout()
    try:
        stamped = where.installed_stamp.read_text().split()
    except OSError:
        return False
    return stamped == list(REQUIREMENTS) and where.bin("nova-compute").exists()


def install(log: Callable[[str], object] = print) -> None:
    """The services from PyPI into the run directory's own virtualenv (about 55 s and 0.5 GB
    with a cold pip cache), unless they are there already: they pin many libraries, so they
    never share the project's virtualenv, and Allotment talks to them only over HTTP."""
    if installed():
        return
    where = layout()
    shutil.rmtree(where.venv, ignore_errors=True)
    where.root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    log(f"installing Nova, Placement, Glance and Keystone into {where.venv} (about a minute)")
    _run([sys.executable, "-m", "venv", str(where.venv)], "creating the virtualenv",
         timeout=INSTALL_TIMEOUT)  # fmt: skip
    pip = [str(where.bin("pip")), "install", "--quiet", "--disable-pip-version-check"]
    try:
        _run([*pip, *REQUIREMENTS], "pip install " + " ".join(REQUIREMENTS),
             timeout=INSTALL_TIMEOUT)  # fmt: skip
    except CloudError as e:
        raise CloudInstallError(str(e)) from None
    where.installed_stamp.write_text("\n".join(REQUIREMENTS) + "\n")
    log(f"installed the cloud's services in {time.monotonic() - began:.0f} s")


def missing_prerequisites() -> str:
    """What the machine lacks to run the cloud ("" when nothing): the system MariaDB, which
    root may use without a password over 127.0.0.1, and the system RabbitMQ with rabbitmqctl."""
    if not shutil.which("mysql"):
        return "the MariaDB client `mysql` is not installed"
    try:
        _sql("SELECT 1", root=True)
    except CloudError:
        return "the system MariaDB does not let root in without a password on 127.0.0.1:3306"
    if not shutil.which("rabbitmqctl"):
        return "RabbitMQ's rabbitmqctl is not installed"
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex(("127.0.0.1", 5672)) != 0:
            return "RabbitMQ does not listen on 127.0.0.1:5672"
    return ""


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The services' environment: none of the project's Python paths or OS_* settings, and no
    deprecation banners (the CLI tools still warn about eventlet at every call)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "DJANGO_", "PYTHON", "ALLOTMENT_")) and k != "VIRTUAL_ENV"
    }
    env["PYTHONWARNINGS"] = "ignore"
    env["PATH"] = f"{layout().venv / 'bin'}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    env.update(extra or {})
    return env


def _run(command: list[str], what: str, *, timeout: float = 300, env=None, cwd=None) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout,
            env=env if env is not None else _clean_env(), cwd=cwd,
        )  # fmt: skip
    except FileNotFoundError:
        raise CloudError(
            f"The local cloud: {what} failed: {command[0]} is not installed."
        ) from None
    except subprocess.TimeoutExpired:
        raise CloudError(f"The local cloud: {what} took more than {timeout:.0f} s.") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-15:])
        raise CloudError(f"The local cloud: {what} exited {done.returncode}:\n{tail}")
    return done.stdout


# --- MariaDB and RabbitMQ ---------------------------------------------------------------


def _sql(query: str, *, root: bool = False) -> str:
    """Run SQL on the system MariaDB over 127.0.0.1: as root (empty password) to create or
    drop the cloud's databases, else as the cloud's own user."""
    user = ["-uroot"] if root else [f"-u{PREFIX}", f"--password={PREFIX}"]
    command = ["mysql", "-N", "-B", "-h127.0.0.1", *user, "-e", query]
    what = "a query on the system MariaDB (127.0.0.1:3306)"
    return _run(command, what, timeout=60, env=dict(os.environ))


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    try:
        _run(["rabbitmqctl", "-q", *args], f"rabbitmqctl {' '.join(args)}", timeout=60,
             env=dict(os.environ))  # fmt: skip
    except CloudError:
        if check:
            raise


def _owner_token() -> str:
    """The init token the cloud's databases hold ("" when there are none)."""
    try:
        return _sql(f"SELECT token FROM {PREFIX}_allotment.owner LIMIT 1", root=True).strip()
    except CloudError:
        return ""


def _needs_init(where: Layout) -> bool:
    try:
        token = json.loads(where.init_stamp.read_text())["token"]
    except (OSError, ValueError, KeyError):
        return True
    return token != _owner_token()


def _drop_databases() -> None:
    _sql(" ".join(f"DROP DATABASE IF EXISTS {PREFIX}_{d};" for d in DATABASES), root=True)
    _rabbitmqctl("delete_vhost", PREFIX, check=False)


def _create_databases() -> None:
    hosts = ("127.0.0.1", "localhost")
    grant = f"`{PREFIX}\\_%`.*"
    _sql(
        " ".join(
            [f"CREATE USER IF NOT EXISTS '{PREFIX}'@'{h}' IDENTIFIED BY '{PREFIX}';" for h in hosts]
            + [f"CREATE DATABASE IF NOT EXISTS {PREFIX}_{d};" for d in DATABASES]
            + [f"GRANT ALL PRIVILEGES ON {grant} TO '{PREFIX}'@'{h}';" for h in hosts]
        ),
        root=True,
    )


def _create_vhost() -> None:
    """Nova's RPC vhost and user; an earlier vhost's queues would replay old casts."""
    _rabbitmqctl("delete_vhost", PREFIX, check=False)
    _rabbitmqctl("add_vhost", PREFIX)
    _rabbitmqctl("add_user", PREFIX, PREFIX, check=False)
    _rabbitmqctl("change_password", PREFIX, PREFIX)
    _rabbitmqctl("set_permissions", "-p", PREFIX, PREFIX, ".*", ".*", ".*")


# --- configuration ----------------------------------------------------------------------


def write_configs(where: Layout) -> None:
    r = where.root
    for sub in ("etc/keystone", "etc/nova", "etc/placement", "etc/glance", "log", "run", "bin",
                "state/nova/locks", "state/glance/images", "state/glance/staging",
                "state/glance/tasks", "state/glance/locks"):  # fmt: skip
        (r / sub).mkdir(parents=True, exist_ok=True)
    etc = where.etc
    (etc / "keystone" / "keystone.conf").write_text(devconfig.keystone_conf(r, DB_URL))
    (etc / "placement" / "placement.conf").write_text(devconfig.placement_conf(r, DB_URL))
    (etc / "glance" / "glance-api.conf").write_text(devconfig.glance_conf(r, DB_URL))
    shutil.copy(where.venv / "etc" / "glance" / "glance-api-paste.ini", etc / "glance")
    (etc / "nova" / "nova.conf").write_text(devconfig.nova_conf(r, RABBIT_URL))
    (etc / "nova" / "nova-db.conf").write_text(devconfig.nova_db_conf(DB_URL))
    (etc / "nova" / "nova-api.conf").write_text(devconfig.nova_api_conf(r))
    shutil.copy(where.venv / "etc" / "nova" / "api-paste.ini", etc / "nova")
    here = Path(__file__).parent
    for launcher in LAUNCHERS:  # run by the cloud's Python, which cannot import allotment
        shutil.copy(here / launcher, where.launchers / launcher)
    _write_clouds_yaml(where)


def _write_clouds_yaml(where: Layout) -> None:
    where.clouds_yaml.write_text(devconfig.clouds_yaml(CLOUD, burst=True))
    where.clouds_yaml.chmod(0o600)


def _command(where: Layout, name: str) -> tuple[list[str], dict[str, str]]:
    """How to start component `name`: its argv and its extra environment."""
    py = str(where.bin("python"))
    etc = where.etc

    def wsgi(target: str, threads: int) -> list[str]:
        port = devconfig.PORTS[name]
        bind = f"{devconfig.HOST}:{port}"
        return [py, str(where.launchers / "wsgi_serve.py"), name, target, bind, "1", str(threads)]

    nova_db = ["--config-file", str(etc / "nova" / "nova.conf"),
               "--config-file", str(etc / "nova" / "nova-db.conf")]  # fmt: skip
    if name == "neutron-stub":
        port = str(devconfig.PORTS[name])
        return [py, str(where.launchers / "neutron_stub.py"), devconfig.HOST, port], {}
    if name == "keystone":
        conf = str(etc / "keystone" / "keystone.conf")
        return wsgi("keystone.wsgi.api:application", 4), {"OS_KEYSTONE_CONFIG_FILES": conf}
    if name == "placement":
        conf_dir = str(etc / "placement")
        return wsgi("placement.wsgi.api:application", 8), {"OS_PLACEMENT_CONFIG_DIR": conf_dir}
    if name == "glance-api":
        return wsgi("glance.wsgi.api:application", 8), {"OS_GLANCE_CONFIG_DIR": str(etc / "glance")}
    if name == "nova-api":
        # nova-api loads its paste pipeline from the first file listed.
        files = "api-paste.ini;nova.conf;nova-db.conf;nova-api.conf"
        env = {"OS_NOVA_CONFIG_DIR": str(etc / "nova"), "OS_NOVA_CONFIG_FILES": files}
        return wsgi("nova.wsgi.osapi_compute:application", 8), env
    if name in ("nova-conductor", "nova-scheduler"):
        return [str(where.bin(name)), *nova_db, "--log-file", str(where.log / f"{name}.log")], {}
    if name.startswith(COMPUTE):
        host = name.removeprefix(COMPUTE)
        return [
            str(where.bin("nova-compute")),
            "--config-file", str(etc / "nova" / "nova.conf"),
            "--config-file", str(where.compute_conf(host)),
            "--log-file", str(where.log / f"{name}.log"),
        ], {}  # fmt: skip
    raise CloudError(f"The local cloud has no component named {name!r}.")


# --- processes --------------------------------------------------------------------------


def _locked(where: Layout):
    """One starter or stopper at a time, across threads and processes (the agent starts and
    stops computes while a test or the CLI may run `up`): a second nova-compute for one host
    would consume from the same queues as the first."""
    return devrun.locked(where.lock)


def _load_pids(where: Layout) -> dict[str, dict]:
    return devrun.load(where.pids)


def _save_pids(where: Layout, pids: dict[str, dict]) -> None:
    devrun.save(where.pids, pids)


def _start(where: Layout, name: str) -> None:
    """Launch one component and record it (the caller holds the lock)."""
    argv, extra = _command(where, name)
    entry = devrun.launch(argv, _clean_env(extra), where.root, where.log / f"{name}.stdout")
    if entry is None:
        raise CloudError(f"The local cloud's {name} ended as soon as it started; see {where.log}.")
    pids = _load_pids(where)
    pids[name] = entry
    _save_pids(where, pids)


def _stop(where: Layout, names: list[str], log: Callable[[str], object]) -> list[str]:
    """Stop the named components that are ours, in parallel, and forget their records."""
    pids = _load_pids(where)
    stopped = devrun.stop({n: pids[n] for n in names if n in pids}, STOP_TIMEOUT, log)
    pids = _load_pids(where)
    for name in names:
        pids.pop(name, None)
    _save_pids(where, pids)
    return stopped


# --- readiness --------------------------------------------------------------------------


def _answers(url: str) -> bool:
    """Any HTTP answer (a 401 or a 300 too) means the API serves."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


def _url(name: str) -> str:
    return f"http://{devconfig.HOST}:{devconfig.PORTS[name]}/"


def _wait(
    where: Layout, check: Callable[[], bool], what: str, names: list[str], timeout: float
) -> None:
    """Wait for `check`; fail at once, with its log, when one of `names` has exited."""

    def exited() -> CloudError | None:
        pids = _load_pids(where)
        for name in names:
            if not running(pids.get(name)):
                log = where.log / f"{name}.log"
                detail = devrun.tail(log) or devrun.tail(where.log / f"{name}.stdout")
                return CloudError(f"The local cloud's {name} exited while starting; it says:\n"
                                  f"{detail}\n(logs in {where.log})")  # fmt: skip
        return None

    def timed_out() -> CloudError:
        return CloudError(f"The local cloud: {what} within {timeout:.0f} s (logs in {where.log}).")

    devrun.wait_until(check, timeout, exited, timed_out)


def _computes_ready(hosts: list[str], since: str) -> bool:
    """Every host's nova-compute has registered (a new one) or reported (a known one) since
    `since`, and its node is mapped to cell1 (the scheduler maps new hosts every 2 s; until
    then boots on them fail with NoValidHost). Nova counts a new service up from its creation;
    its first heartbeat comes 5 s later."""
    if not hosts:
        return True
    listed = ", ".join(f"'{h}'" for h in hosts)
    out = _sql(
        f"SELECT (SELECT COUNT(*) FROM {PREFIX}_nova.services WHERE `binary`='nova-compute'"
        f" AND deleted=0 AND host IN ({listed})"
        f" AND COALESCE(last_seen_up, created_at) >= '{since}'),"
        f" (SELECT COUNT(*) FROM {PREFIX}_nova_api.host_mappings WHERE host IN ({listed}))"
    )
    reported, mapped = (int(x) for x in out.split())
    return reported >= len(hosts) and mapped >= len(hosts)


def _db_now() -> str:
    return _sql("SELECT UTC_TIMESTAMP()").strip()


def check_ports(names: list[str]) -> None:
    """Refuse, naming each taken port, what needed it and who holds it, before anything
    starts: else an API fails to listen and `up` only sees it never answer."""
    lines = []
    for name in names:
        port = devconfig.PORTS.get(name)
        held = devrun.taken_by(port) if port is not None else ""
        if held:
            lines.append(f"  port {port} on 127.0.0.1, needed by {name}, is taken by {held}")
    if lines:
        raise CloudError(
            "The local cloud cannot start:\n" + "\n".join(lines) + "\nStop what holds them (an "
            "earlier cloud whose records were lost shows as gunicorn or python wsgi_serve.py), "
            "then run `allot dev openstack up` again."
        )


# --- init (once) ------------------------------------------------------------------------


def _init(where: Layout, log: Callable[[str], object]) -> None:
    """Create the databases, vhost, schemas and Keystone's catalog (about 15 s): once per
    run directory, remembered by the init stamp. Keystone is left running."""
    began = time.monotonic()
    where.init_stamp.unlink(missing_ok=True)
    _drop_databases()
    shutil.rmtree(where.root / "state", ignore_errors=True)
    shutil.rmtree(where.etc / "keystone", ignore_errors=True)
    for leftover in where.etc.glob("nova/compute-*.conf"):
        leftover.unlink()
    _create_databases()
    write_configs(where)
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    keystone = [str(where.bin("keystone-manage")), "--config-file",
                str(where.etc / "keystone" / "keystone.conf")]  # fmt: skip
    url = f"{devconfig.KEYSTONE}/v3/"
    nova = [str(where.bin("nova-manage")), "--config-file", str(where.etc / "nova" / "nova.conf"),
            "--config-file", str(where.etc / "nova" / "nova-db.conf")]  # fmt: skip

    def keystone_chain() -> None:
        _run([*keystone, "db_sync"], "keystone-manage db_sync")
        for setup in ("fernet_setup", "credential_setup"):
            _run([*keystone, setup, "--keystone-user", me, "--keystone-group", group],
                 f"keystone-manage {setup}")  # fmt: skip
        _run([*keystone, "bootstrap", "--bootstrap-password", devconfig.ADMIN_PASSWORD,
              "--bootstrap-region-id", REGION, "--bootstrap-admin-url", url,
              "--bootstrap-internal-url", url, "--bootstrap-public-url", url],
             "keystone-manage bootstrap")  # fmt: skip

    def placement_glance() -> None:
        conf = str(where.etc / "placement" / "placement.conf")
        _run([str(where.bin("placement-manage")), "--config-file", conf, "db", "sync"],
             "placement-manage db sync")  # fmt: skip
        conf = str(where.etc / "glance" / "glance-api.conf")
        _run([str(where.bin("glance-manage")), "--config-file", conf, "db_sync"],
             "glance-manage db_sync")  # fmt: skip

    def nova_chain() -> None:
        _run([*nova, "api_db", "sync"], "nova-manage api_db sync")
        _run([*nova, "cell_v2", "map_cell0", "--database_connection", f"{DB_URL}_nova_cell0"],
             "nova-manage cell_v2 map_cell0")  # fmt: skip
        cell1 = ["--name", "cell1", "--transport-url", RABBIT_URL,
                 "--database_connection", f"{DB_URL}_nova"]  # fmt: skip
        _run([*nova, "cell_v2", "create_cell", *cell1], "nova-manage cell_v2 create_cell")
        _run([*nova, "db", "sync"], "nova-manage db sync")

    with ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(f) for f in (keystone_chain, placement_glance, nova_chain, _create_vhost)
        ]
        for job in jobs:
            job.result()
    _start(where, "keystone")
    _wait(where, lambda: _answers(_url("keystone") + "v3"), "Keystone did not answer",
          ["keystone"], START_TIMEOUT)  # fmt: skip
    register_catalog()
    token = uuid.uuid4().hex
    _sql(f"CREATE TABLE {PREFIX}_allotment.owner (token VARCHAR(64) NOT NULL);"
         f" INSERT INTO {PREFIX}_allotment.owner VALUES ('{token}');", root=True)  # fmt: skip
    where.init_stamp.write_text(json.dumps({"token": token, "at": time.time()}))
    log(f"initialised the cloud's databases and catalog in {time.monotonic() - began:.1f} s")


def _admin_connection():
    return _connection("admin", devconfig.ADMIN_PASSWORD, "admin")


def _connection(user: str, password: str, project: str):
    import openstack

    return openstack.connect(
        auth_url=f"{devconfig.KEYSTONE}/v3", username=user, password=password,
        project_name=project, user_domain_id="default", project_domain_id="default",
        region_name=REGION, load_envvars=False, load_yaml_config=False, api_timeout=60,
    )  # fmt: skip


def register_catalog() -> None:
    """Service users, services and endpoints in a fresh Keystone, and a member-only `demo`
    user and project (idempotent)."""
    idn = _admin_connection().identity
    service = idn.find_project("service", domain_id="default") or idn.create_project(
        name="service", domain_id="default"
    )
    admin_role, service_role = idn.find_role("admin"), idn.find_role("service")
    for user, kind, name, url in devconfig.SERVICES:
        account = idn.find_user(user, domain_id="default") or idn.create_user(
            name=user, password=user, domain_id="default", default_project_id=service.id
        )
        for role in (admin_role, service_role):
            idn.assign_project_role_to_user(service, account, role)
        entry = idn.find_service(name) or idn.create_service(name=name, type=kind)
        have = {e.interface for e in idn.endpoints(service_id=entry.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idn.create_endpoint(service_id=entry.id, interface=interface, url=url,
                                    region_id=REGION)  # fmt: skip
    demo = idn.find_project("demo", domain_id="default") or idn.create_project(
        name="demo", domain_id="default"
    )
    user = idn.find_user("demo", domain_id="default") or idn.create_user(
        name="demo", password=devconfig.DEMO_PASSWORD, domain_id="default",
        default_project_id=demo.id,
    )  # fmt: skip
    idn.assign_project_role_to_user(demo, user, idn.find_role("member"))


def offer_burst(where: Layout) -> None:
    """What burst boots with (devconfig.BURST_*): the burst project and its member, its
    quota, the burst flavors and the burst-worker image, uploaded by the member so that the
    project owns it. Idempotent, about 1 s: run by every `up`, so a cloud initialised before
    burst existed gets it too."""
    conn = _admin_connection()
    idn = conn.identity
    name = devconfig.BURST_PROJECT
    project = idn.find_project(name, domain_id="default") or idn.create_project(
        name=name, domain_id="default", description="burst worker VMs (allot dev openstack)"
    )
    user = idn.find_user(name, domain_id="default") or idn.create_user(
        name=name, password=devconfig.BURST_PASSWORD, domain_id="default",
        default_project_id=project.id,
    )  # fmt: skip
    idn.assign_project_role_to_user(project, user, idn.find_role("member"))
    quota = conn.compute.get_quota_set(project)
    if any(getattr(quota, k) != v for k, v in devconfig.BURST_QUOTA.items()):
        conn.compute.update_quota_set(project, **devconfig.BURST_QUOTA)
    for flavor, vcpus, ram, disk in devconfig.BURST_FLAVORS:
        if conn.compute.find_flavor(flavor) is None:
            conn.compute.create_flavor(name=flavor, vcpus=vcpus, ram=ram, disk=disk)
    member = _connection(name, devconfig.BURST_PASSWORD, name).image
    # The catalog's checksum in its properties, as on a copy burst made: every cloud's
    # burst-worker is then comparable by sha256 (Glance itself hashes with sha512).
    data = devconfig.burst_image_data()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    image = member.find_image(devconfig.BURST_IMAGE)
    if image is not None:
        image = member.get_image(image.id)
        # an upload that died half-way, or one from before the checksum was recorded (Glance
        # refuses to patch it in afterwards: made again)
        if image.status != "active" or image.properties.get("allotment_checksum") != checksum:
            member.delete_image(image)
            image = None
    if image is None:
        member.create_image(
            devconfig.BURST_IMAGE, data=data, disk_format="raw", container_format="bare",
            allow_duplicates=True, disable_vendor_agent=False, allotment_checksum=checksum,
        )  # fmt: skip
    _write_clouds_yaml(where)


# --- the public surface (`allot dev openstack ...`, the tests, the loopback NovaHosts) ---


def up(
    *, fresh: bool = False, log: Callable[[str], object] = print, point_machine: bool = True
) -> dict:
    """Install if needed, initialise once, start what is not running and wait until servers
    can be booted on the default hypervisors; then (unless told not to) point the ledger's
    machine tango at the cloud. Idempotent. `fresh` stops the cloud and drops its databases
    first."""
    where = layout()
    missing = missing_prerequisites()
    if missing:
        raise CloudError(f"The local cloud cannot run here: {missing}.")
    with _locked(where):
        install(log=log)
        if fresh:
            _stop(where, _all_names(where), log)
            where.init_stamp.unlink(missing_ok=True)
        pids = _load_pids(where)
        absent = [n for n in CORE if not running(pids.get(n))]
        hosts = [h for h in DEFAULT_COMPUTES if not running(pids.get(COMPUTE + h))]
        began = time.monotonic()
        if absent or hosts:
            # Forget the records of what died, and stop the workers it may have left.
            _stop(where, [n for n in absent + [COMPUTE + h for h in hosts] if n in pids], log)
            check_ports(absent)
            if _needs_init(where):
                if len(absent) < len(CORE):  # half of a cloud whose databases are gone
                    _stop(where, _all_names(where), log)
                log("initialising the cloud (databases, schemas, catalog): about 15 s")
                _init(where, log)
            _start_all(where, hosts, log)
        offer_burst(where)
        if point_machine and point_machine_at():
            log(f"machine {CLOUD} of the ledger now uses this cloud")
        if absent or hosts:
            log(f"cloud {CLOUD} is up in {time.monotonic() - began:.1f} s; "
                f"OS_CLIENT_CONFIG_FILE={where.clouds_yaml} OS_CLOUD={CLOUD}")  # fmt: skip
    return {
        "cloud": CLOUD,
        "burst_cloud": BURST_CLOUD,
        "clouds_yaml": str(where.clouds_yaml),
        "region": REGION,
        "run_dir": str(where.root),
        "computes": computes(),
    }


def _start_all(where: Layout, hosts: list[str], log: Callable[[str], object]) -> None:
    write_configs(where)
    pids = _load_pids(where)
    started = []
    for name in CORE:
        if running(pids.get(name)):
            continue
        if name == "nova-conductor":  # its log is waited on for a fresh "Starting" line
            (where.log / "nova-conductor.log").write_text("")
        _start(where, name)
        started.append(name)

    def conductor_consumes() -> bool:
        try:
            return "Starting conductor node" in (where.log / "nova-conductor.log").read_text()
        except OSError:
            return False

    if "nova-conductor" in started:
        # Computes started before it consumes wait 10 s and retry.
        _wait(where, conductor_consumes, "nova-conductor did not start consuming",
              ["nova-conductor"], START_TIMEOUT)  # fmt: skip
    since = _db_now()
    for host in hosts:
        _start_compute(where, host)
    for name in (n for n in CORE if n in devconfig.PORTS):
        url = _url(name)
        _wait(where, partial(_answers, url), f"{name} did not answer at {url}", [name],
              START_TIMEOUT)  # fmt: skip
    every = list(DEFAULT_COMPUTES)
    watched = [COMPUTE + h for h in every] + ["nova-conductor", "nova-scheduler"]
    _wait(where, partial(_computes_ready, every, since),
          f"the computes {', '.join(every)} did not register", watched, START_TIMEOUT)  # fmt: skip
    for name in started + [COMPUTE + h for h in hosts]:
        log(f"started {name}")


def _all_names(where: Layout) -> list[str]:
    """Computes first: they report to the conductor as they stop."""
    pids = _load_pids(where)
    return sorted(n for n in pids if n.startswith(COMPUTE)) + [n for n in CORE if n in pids]


def down(*, log: Callable[[str], object] = print) -> bool:
    """Stop the cloud's processes that `up` started (and their workers), and nothing else;
    in parallel, about 6-13 s. True if something was stopped."""
    where = layout()
    with _locked(where):
        stopped = _stop(where, _all_names(where), log)
    if stopped:
        log(f"stopped {', '.join(stopped)}")
    return bool(stopped)


def stop_component(name: str) -> None:
    """Stop one of the cloud's core components (a test of what a client sees when, say,
    nova-api is down); the next `up` starts it again."""
    if name not in CORE:
        raise CloudError(f"The local cloud has no core component named {name!r}.")
    where = layout()
    with _locked(where):
        _stop(where, [name], log=lambda *_: None)


def status() -> dict:
    where = layout()
    pids = _load_pids(where)
    components = {
        name: {"pid": entry.get("pid"), "running": running(entry)} for name, entry in pids.items()
    }
    return {
        "up": all(running(pids.get(n)) for n in CORE),
        "installed": installed(),
        "cloud": CLOUD,
        "clouds_yaml": str(where.clouds_yaml),
        "run_dir": str(where.root),
        "components": components,
        "computes": computes(),
    }


def computes() -> list[str]:
    """The hosts whose nova-compute of ours runs."""
    pids = _load_pids(layout())
    return sorted(n.removeprefix(COMPUTE) for n, e in pids.items()
                  if n.startswith(COMPUTE) and running(e))  # fmt: skip


def env_lines() -> list[str]:
    return [
        f"export OS_CLIENT_CONFIG_FILE={layout().clouds_yaml}",
        f"export OS_CLOUD={CLOUD}",
    ]


def _check_host(host: str) -> None:
    if not devconfig.HOST_NAME.match(host):
        raise CloudError(
            f"The local cloud cannot run a compute named {host!r}: a host name is letters, "
            "digits, '.', '_' and '-' (at most 63)."
        )


def _start_compute(where: Layout, host: str) -> None:
    state = devconfig.compute_state(where.root, host)
    state.mkdir(parents=True, exist_ok=True)
    where.compute_conf(host).write_text(devconfig.compute_conf(where.root, host))
    _start(where, COMPUTE + host)


def start_compute(host: str, *, wait: bool = False) -> None:
    """A nova-compute for hypervisor `host` ("node4"): its own state, so its own node and
    resource provider. Idempotent (a second one for a host would share its queues). Returns at
    once unless `wait`: it registers about 2.5 s after launch and takes servers 5 s later."""
    _check_host(host)
    where = layout()
    with _locked(where):
        pids = _load_pids(where)
        if running(pids.get(COMPUTE + host)):
            return
        if not running(pids.get("nova-conductor")):
            raise CloudError(
                f"The local cloud is not up, so no nova-compute can start for {host}: "
                "run `allot dev openstack up` first."
            )
        since = _db_now() if wait else ""
        _start_compute(where, host)
    if wait:
        _wait(where, lambda: _computes_ready([host], since), f"nova-compute {host} did not "
              "register", [COMPUTE + host], START_TIMEOUT)  # fmt: skip


def stop_compute(host: str, *, wait: bool = True) -> None:
    """Stop the nova-compute of `host` (idempotent). Without `wait`, only ask it to stop (a
    graceful stop takes about 6 s): a later call kills it once STOP_TIMEOUT has passed."""
    _check_host(host)
    where = layout()
    name = COMPUTE + host
    with _locked(where):
        if wait:
            _stop(where, [name], log=lambda *_: None)
            return
        pids = _load_pids(where)
        entry = pids.get(name)
        if not running(entry):
            if entry and not devrun.group(int(entry["pid"])):
                pids.pop(name)
                _save_pids(where, pids)
            return
        pid = int(entry["pid"])
        asked = entry.get("stopping")
        if asked is None:
            os.kill(pid, signal.SIGTERM)
            entry["stopping"] = time.time()
            _save_pids(where, pids)
        elif time.time() - asked > STOP_TIMEOUT:
            devrun.signal_group(pid, signal.SIGKILL)
    devrun.reap()


def compute_running(host: str) -> bool:
    return running(_load_pids(layout()).get(COMPUTE + host))


def forget_compute(host: str) -> None:
    """Wipe a stopped compute's state (its node identity), as an undeploy wipes a node's
    disk: the next start_compute for that host registers a new hypervisor."""
    _check_host(host)
    where = layout()
    with _locked(where):
        if compute_running(host):
            raise CloudError(f"The local cloud's nova-compute for {host} still runs.")
        shutil.rmtree(devconfig.compute_state(where.root, host), ignore_errors=True)
        where.compute_conf(host).unlink(missing_ok=True)


def point_machine_at(machine_name: str = CLOUD) -> bool:
    """Once the cloud is up, the ledger's machine (the example site's tango) uses it: engine
    openstack, kind cloud, and where its clouds.yaml is (the credentials stay there)."""
    from django.db import DatabaseError

    from allotment.resources.models import Engine, Machine, MachineKind

    options = {"cloud": CLOUD, "clouds_yaml": str(layout().clouds_yaml), "loopback": True}
    try:
        return bool(
            Machine.objects.filter(name=machine_name).update(
                engine=Engine.OPENSTACK, kind=MachineKind.CLOUD, engine_options=options
            )
        )
    except DatabaseError:  # the ledger is not migrated yet: nothing to point
        return False
