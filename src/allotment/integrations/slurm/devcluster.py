"""A real Slurm 22.05 cluster on loopback for tests, CI and the demo (`allot dev slurm`).

munge, a private MariaDB, slurmdbd, slurmctld and one slurmd per fake node, all on
127.0.0.1, configured and kept under var/slurm/. Every process this module starts is
recorded with its pid, and `down` stops those and nothing else (a munged that was
already running is reused and left alone). Settings follow the measured ones in
shared/notes/slurm-on-loopback.md.

The nodes: node1..node4 are static (the example site's brecca, which a shift may take to
the cloud and back), extra1..extra4 are FUTURE (declared, joining when their slurmd
starts). `start_node` / `stop_node` start or stop one node's slurmd: on loopback that
plays a node's deployed image booting, or the node leaving. Which nodes' slurmds should
run is kept beside the pids, so `up` after `down` brings back the same nodes and not one
that a shift took away.

burst1..burst8 are burst's nodes: FUTURE nodes of their own partition `burst` (the
partition debug has the others). A burst VM "booting" on loopback is its node's slurmd
starting (`start_node("burst3")`). Of what 22.05 offers, FUTURE nodes do what burst needs,
measured: `sbatch -p burst` accepts jobs while no burst node is up, and they wait
(PENDING, "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher
priority partitions", or "ReqNodeNotAvail, ..."); a burst node's slurmd registering makes
it IDLE by itself within a second and the scheduler starts a waiting job on it at once.
CLOUD nodes would have slurmctld pick nodes for jobs and wait on its own power-saving
resume to boot them (burst decides that, not Slurm); dynamic nodes (`slurmd -Z`) allow one
per host on loopback (no Port= of their own). A burst node whose slurmd stopped goes DOWN
after SlurmdTimeout; `scontrol update nodename=burst3 state=future` hides it again.

For benchmarks only, $ALLOTMENT_SLURM_BENCH_NODES=N declares N more static nodes,
bench001..benchN, recorded beside the pids until set to 0 (see `bench_nodes`); without
them the cluster is exactly the one above.

slurmrestd serves people's own jobs (allotment.jobs, through slurm.rest): it runs as the
unprivileged service user `slurmrest` on 127.0.0.1:SLURMRESTD_PORT with only the v0.0.38
API, and takes each request's JWT (Slurm's auth/jwt, next to munge). The HS256 key is
etc/jwt_hs256.key, mode 600, read by slurmctld and slurmdbd only: slurmrestd forwards the
request's token (SLURM_JWT=daemon) and never sees the key. `PrivateData=jobs` lets a person
see their own jobs only. Settings and pitfalls: shared/notes/slurmrestd-jwt.md.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from allotment.core.debian import AptError, apt_install

CLUSTER = "brecca"
PACKAGES = [
    "slurmctld", "slurmd", "slurmdbd", "slurm-client", "munge", "mariadb-server",
    # slurmrestd, and auth_jwt.so for slurmctld and slurmdbd (not in basic-plugins since 22.05.7)
    "slurmrestd", "slurm-wlm-jwt-plugin",
]  # fmt: skip
STATIC_NODES = 4
FUTURE_NODES = 4
BURST_NODES = 8
BURST_PARTITION = "burst"
CPUS_PER_NODE = 2
MYSQL_PORT = 13306
SLURMCTLD_PORT = 6817
SLURMDBD_PORT = 6819
NODE_PORT_BASE = 17000  # node<n> listens on NODE_PORT_BASE + n, extra<n> on +100 + n
BURST_PORT_BASE = NODE_PORT_BASE + 150  # burst<n> listens on BURST_PORT_BASE + n
BENCH_NODES_ENV = "ALLOTMENT_SLURM_BENCH_NODES"
BENCH_PORT_BASE = NODE_PORT_BASE + 200  # bench<n> listens on BENCH_PORT_BASE + n
MAX_BENCH_NODES = 500
MAX_JOBS = 400_000  # pending jobs slurmctld accepts (array tasks count one each)
MAX_DYNAMIC_NODES = 56  # room for `slurmd -Z` nodes beyond those slurm.conf declares
DB_PASSWORD = "allotment-dev-slurmdb"
SLURMRESTD_PORT = 17820
REST_USER = "slurmrest"  # slurmrestd refuses uid and gid 0
REST_API = "v0.0.38"  # 22.05's newest; the only one loaded
JWT_KEY_BYTES = 32


class ClusterError(RuntimeError):
    """The local cluster could not be brought to the asked state; the message says why."""


@dataclass
class Layout:
    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def conf(self) -> Path:
        return self.etc / "slurm.conf"

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids.json"

    @property
    def nodes_on(self) -> Path:
        """The nodes whose slurmd should run (absent: the static nodes)."""
        return self.root / "run" / "nodes-on.json"

    @property
    def bench_record(self) -> Path:
        """How many bench nodes slurm.conf declares (absent: none); see bench_nodes."""
        return self.root / "run" / "bench-nodes"

    @property
    def mysql_root(self) -> Path:
        """MariaDB's data and socket: under the run directory when the mysql user can reach
        it, else in a directory of its own keyed by it (a checkout under a private
        temporary directory is closed to other users)."""
        if _reachable_by("mysql", self.root):
            return self.root
        key = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp/allotment-slurm") / key

    @property
    def spool(self) -> Path:
        """slurmd's spool, where each job's script waits for the user it runs as: under the
        run directory when other users can reach it, else in a directory of its own keyed
        by it, as for MariaDB."""
        if _reachable_by("nobody", self.root):
            return self.root / "spool"
        key = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp/allotment-slurm") / key / "spool"

    @property
    def jwt_key(self) -> Path:
        """auth/jwt's HS256 key: whoever reads it can act as anyone, root included."""
        return self.etc / "jwt_hs256.key"

    @property
    def rest_conf(self) -> Path:
        """The slurm.conf slurmrestd reads: the cluster's own when its service user can
        reach it, else a copy in a directory of its own (it needs no key and no munge)."""
        if _reachable_by(REST_USER, self.etc):
            return self.conf
        key = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp/allotment-slurm") / key / "rest" / "slurm.conf"

    @property
    def jobs(self) -> Path:
        """Where jobs submitted through slurmrestd start and write their output: every
        user may write there (mode 1777); a private checkout gets one of its own, as for
        the spool."""
        if _reachable_by("nobody", self.root):
            return self.root / "jobs"
        key = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp/allotment-slurm") / key / "jobs"

    @property
    def mysql_socket(self) -> Path:
        return self.mysql_root / "run" / "mysql" / "mysqld.sock"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def rest_url() -> str:
    return f"http://127.0.0.1:{SLURMRESTD_PORT}"


def _reachable_by(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path)],
                          capture_output=True).returncode == 0  # fmt: skip


def layout() -> Layout:
    return Layout(Path(os.environ.get("ALLOTMENT_SLURM_DIR", settings.VAR_DIR / "slurm")))


def static_nodes() -> list[str]:
    return [f"node{n}" for n in range(1, STATIC_NODES + 1)]


def future_nodes() -> list[str]:
    return [f"extra{n}" for n in range(1, FUTURE_NODES + 1)]


def burst_nodes() -> list[str]:
    return [f"burst{n}" for n in range(1, BURST_NODES + 1)]


def bench_nodes(where: Layout | None = None) -> list[str]:
    """The benchmark's extra nodes (bench/shift.py): bench001..benchN when
    $ALLOTMENT_SLURM_BENCH_NODES=N, none by default, so tests and the demo see the cluster
    unchanged. They are static nodes like node[1-4] (State=UNKNOWN, in the debug
    partition), whose slurmds are started by name (`start_node`), not by `up`: a benchmark
    then drains, downs and stops registered, idle nodes, as a shift does brecca's.

    Changing N needs slurmctld restarted: 22.05 adds no node on a reconfigure, and dies on
    one that changes the node count ("MaxNodeCount has changed ... must be restarted").
    So `write_configs` records N beside the pids while it is not 0, and a process without
    the variable (another test session's `up`, which rewrites slurm.conf and reconfigures)
    declares the same nodes; setting it to 0 drops them and the record."""
    raw = os.environ.get(BENCH_NODES_ENV, "").strip()
    if not raw:
        try:
            raw = (where or layout()).bench_record.read_text().strip()
        except OSError:
            raw = "0"
    try:
        count = int(raw)
    except ValueError:
        raise ClusterError(f"${BENCH_NODES_ENV} must be a whole number, not {raw!r}.") from None
    if not 0 <= count <= MAX_BENCH_NODES:
        raise ClusterError(f"${BENCH_NODES_ENV} must be between 0 and {MAX_BENCH_NODES}.")
    return [f"bench{n:03d}" for n in range(1, count + 1)]


def _record_bench_nodes(where: Layout) -> None:
    """Keep the count the environment asks for, for processes without the variable."""
    if not os.environ.get(BENCH_NODES_ENV, "").strip():
        return
    count = len(bench_nodes(where))
    if count:
        where.bench_record.parent.mkdir(parents=True, exist_ok=True)
        where.bench_record.write_text(f"{count}\n")
    else:
        where.bench_record.unlink(missing_ok=True)


def installed() -> bool:
    binaries = ("slurmctld", "slurmd", "slurmdbd", "sacctmgr", "munged", "mariadbd",
                "mariadb-install-db", "slurmrestd")  # fmt: skip
    return all(shutil.which(b) for b in binaries) and jwt_plugin_installed()


def jwt_plugin_installed() -> bool:
    """auth_jwt.so, which slurmctld and slurmdbd load for AuthAltTypes=auth/jwt."""
    return (
        any(Path("/usr/lib").glob("*/slurm-wlm/auth_jwt.so"))
        or Path("/usr/lib/slurm-wlm/auth_jwt.so").exists()
    )


def install() -> None:
    """Debian's packages, without recommends; services are not started by the install."""
    if installed():
        return
    if os.geteuid() != 0:
        raise ClusterError("Installing Slurm needs root: run `allot dev slurm up` as root.")
    try:
        apt_install(PACKAGES)
    except AptError as e:
        raise ClusterError(str(e)) from None


def write_configs(where: Layout) -> None:
    r = where.root
    for sub in ("etc", "state", "log", "run/mysql", "jobs", "mysql"):
        (r / sub).mkdir(parents=True, exist_ok=True)
    spool = where.spool
    for name in static_nodes() + future_nodes() + burst_nodes():
        (spool / name).mkdir(parents=True, exist_ok=True)
    where.jobs.mkdir(parents=True, exist_ok=True)
    where.jobs.chmod(0o1777)
    _ensure_jwt_key(where)
    true = shutil.which("true") or "/bin/true"
    _record_bench_nodes(where)
    bench = bench_nodes(where)
    bench_line = (
        f"NodeName=bench[001-{len(bench):03d}] NodeHostname=localhost NodeAddr=127.0.0.1 "
        f"Port=[{BENCH_PORT_BASE + 1}-{BENCH_PORT_BASE + len(bench)}] CPUs={CPUS_PER_NODE} "
        "RealMemory=1000 State=UNKNOWN\n"
        if bench
        else ""
    )
    declared = STATIC_NODES + FUTURE_NODES + BURST_NODES + len(bench)
    debug = f"node[1-{STATIC_NODES}],extra[1-{FUTURE_NODES}]" + (
        f",bench[001-{len(bench):03d}]" if bench else ""
    )
    where.conf.write_text(f"""# Written by `allot dev slurm up`; regenerated on every start.
ClusterName={CLUSTER}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={SLURMCTLD_PORT}
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={where.jwt_key}
# Each person sees their own jobs only (slurmrestd's /jobs included); root sees all.
PrivateData=jobs
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation={r}/state
SlurmdSpoolDir={spool}/%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd-%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
MailProg={true}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={SLURMDBD_PORT}
AccountingStorageEnforce=associations,limits,safe
AccountingStorageTRES=cpu,mem,node
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
PriorityType=priority/multifactor
# Usage counts exactly (no decay; Slurm then wants a reset period) and soon (every minute):
# limits are computed from it at every sync.
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=YEARLY
PriorityCalcPeriod=1
MessageTimeout=10
SlurmdTimeout=30
KillWait=5
MinJobAge=30
MaxNodeCount={max(64, declared + MAX_DYNAMIC_NODES)}
# Room for burst's scale (bench/burst_queue.py: 300,000 pending array tasks; each counts).
MaxJobCount={MAX_JOBS}
NodeName=node[1-{STATIC_NODES}] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[{NODE_PORT_BASE + 1}-{NODE_PORT_BASE + STATIC_NODES}] CPUs={CPUS_PER_NODE} RealMemory=1000 State=UNKNOWN
NodeName=extra[1-{FUTURE_NODES}] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[{NODE_PORT_BASE + 101}-{NODE_PORT_BASE + 100 + FUTURE_NODES}] CPUs={CPUS_PER_NODE} RealMemory=1000 State=FUTURE
NodeName=burst[1-{BURST_NODES}] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[{BURST_PORT_BASE + 1}-{BURST_PORT_BASE + BURST_NODES}] CPUs={CPUS_PER_NODE} RealMemory=1000 State=FUTURE
{bench_line}PartitionName=debug Nodes={debug} Default=YES MaxTime=INFINITE State=UP
PartitionName={BURST_PARTITION} Nodes=burst[1-{BURST_NODES}] MaxTime=INFINITE State=UP
""")  # noqa: E501
    dbd = where.etc / "slurmdbd.conf"
    dbd.write_text(f"""AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={where.jwt_key}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={SLURMDBD_PORT}
SlurmUser=root
LogFile={r}/log/slurmdbd.log
PidFile={r}/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={MYSQL_PORT}
StorageUser=slurm
StoragePass={DB_PASSWORD}
StorageLoc=slurm_acct_db
""")
    dbd.chmod(0o600)
    if where.rest_conf != where.conf:
        where.rest_conf.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(where.conf, where.rest_conf)
        where.rest_conf.chmod(0o644)


def _ensure_jwt_key(where: Layout) -> None:
    """Made once and kept (tokens minted with it stay valid across restarts); owned by
    SlurmUser (root) and readable by nobody else, whatever it was before."""
    key = where.jwt_key
    if not key.exists() or key.stat().st_size < JWT_KEY_BYTES:
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(JWT_KEY_BYTES))
    key.chmod(0o600)


# --- ports ----------------------------------------------------------------------------


def component_ports() -> dict[str, tuple[int, str]]:
    """Each component `up` starts: (the loopback port it listens on, what it is)."""
    ports = {
        "mariadbd": (MYSQL_PORT, "MariaDB"),
        "slurmdbd": (SLURMDBD_PORT, "slurmdbd"),
        "slurmctld": (SLURMCTLD_PORT, "slurmctld"),
    }
    for name in static_nodes():
        ports[f"slurmd-{name}"] = (node_port(name), f"slurmd of {name}")
    return ports


def rest_ports() -> dict[str, tuple[int, str]]:
    """slurmrestd's port, checked with the others' before `up` starts anything (it is not in
    slurm.conf, so kept apart from component_ports)."""
    return {"slurmrestd": (SLURMRESTD_PORT, "slurmrestd")}


def node_port(name: str, where: Layout | None = None) -> int:
    """The port slurm.conf gives a node: node<n> on BASE + n, extra<n> on BASE + 100 + n."""
    if name in static_nodes():
        return NODE_PORT_BASE + int(name.removeprefix("node"))
    if name in future_nodes():
        return NODE_PORT_BASE + 100 + int(name.removeprefix("extra"))
    if name in burst_nodes():
        return BURST_PORT_BASE + int(name.removeprefix("burst"))
    if name in bench_nodes(where):
        return BENCH_PORT_BASE + int(name.removeprefix("bench"))
    raise ClusterError(
        f"{name!r} is not a node of the local cluster {CLUSTER} (its nodes are "
        f"node[1-{STATIC_NODES}], the FUTURE nodes extra[1-{FUTURE_NODES}] and the burst "
        f"nodes burst[1-{BURST_NODES}])."
    )


def port_taken(port: int) -> bool:
    """Whether a daemon could not listen on 127.0.0.1:port: binding it ourselves is the one
    test that sees every holder (any user, IPv4 or a dual-stack wildcard)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the daemons do: a closed connection's TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _socket_inodes(port: int) -> list[str]:
    """Inodes of the sockets bound to `port` (/proc/net/tcp{,6}), listening ones first."""
    listening, other = [], []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or int(fields[1].rsplit(":", 1)[1], 16) != port:
                continue
            (listening if fields[3] == "0A" else other).append(fields[9])
    return [i for i in listening + other if i != "0"]


def _process(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        command = " ".join(a.decode(errors="replace") for a in argv)
    except OSError:
        command = ""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        name = "?"
    if len(command) > 120:
        command = command[:117] + "..."
    return f"pid {pid} ({name}: {command})" if command else f"pid {pid} ({name})"


def port_holders(port: int) -> list[str]:
    """The processes holding `port`, as "pid N (name: command line)", from /proc: the
    socket's inode in /proc/net/tcp, then the process with that inode among its open
    files. Processes of other users are invisible unless we are root."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    if not wanted:
        return []
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # gone meanwhile, or another user's
            continue
        if any(_link(fd) in wanted for fd in fds):
            found.append(_process(int(proc.name)))
    return found


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile (the listing's own descriptor is)
        return ""


def check_ports(ports: dict[int, str]) -> None:
    """Refuse, naming each taken port, what needed it and who holds it, before anything
    starts: else MariaDB or a daemon fails to listen and `up` waits out its timeout."""
    lines = []
    for port, what in sorted(ports.items()):
        if not port_taken(port):
            continue
        holders = port_holders(port)
        held = (
            ", ".join(holders)
            if holders
            else "a process this user cannot see (run as root, or `ss -ltnp`)"
        )
        lines.append(f"  port {port} on 127.0.0.1, needed by {what}, is taken by {held}")
    if lines:
        raise ClusterError(
            "The local cluster cannot start:\n"
            + "\n".join(lines)
            + "\nStop what holds them (an earlier cluster whose records were lost shows as "
            "mariadbd or slurm*), then run `allot dev slurm up` again."
        )


# --- processes ------------------------------------------------------------------------


def _load_pids(where: Layout) -> dict[str, int]:
    try:
        return json.loads(where.pids.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save_pids(where: Layout, pids: dict[str, int]) -> None:
    where.pids.parent.mkdir(parents=True, exist_ok=True)
    where.pids.write_text(json.dumps(pids, indent=1))


@contextmanager
def _locked(where: Layout) -> Iterator[None]:
    """One writer of the pid and node records at a time: the agent's shift steps start and
    stop nodes from several processes while `up` may be recording its own."""
    lock = where.root / "run" / "pids.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def _record(where: Layout, name: str, pid: int) -> None:
    """Record one started process (under the lock: others may be recording theirs)."""
    with _locked(where):
        pids = _load_pids(where)
        pids[name] = pid
        _save_pids(where, pids)


def nodes_on(where: Layout) -> list[str]:
    """The nodes whose slurmd `up` starts: the static ones until a node is stopped or
    started by name."""
    try:
        return json.loads(where.nodes_on.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return static_nodes()


def _set_node_on(where: Layout, name: str, on: bool) -> None:
    wanted = [n for n in nodes_on(where) if n != name] + ([name] if on else [])
    order = static_nodes() + future_nodes() + burst_nodes() + bench_nodes(where)
    where.nodes_on.parent.mkdir(parents=True, exist_ok=True)
    rank = {n: i for i, n in enumerate(order)}  # names no longer declared go last
    where.nodes_on.write_text(json.dumps(sorted(wanted, key=lambda n: rank.get(n, len(rank)))))


def running(name: str, pid: int) -> bool:
    """Alive and still the program we started: a recorded pid may since have been reused
    by an unrelated process, which must never be signalled."""
    if not pid or not alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    program = "slurmd" if name.startswith("slurmd-") else name
    return Path(argv0).name == program


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped (which counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _pid_from(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    raise ClusterError(
        f"{path} did not appear: the daemon did not start (see {path.parent}/../log)."
    )


def _wait(check, what: str, timeout: float = 30, where: Layout | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    logs = f" (logs in {where.root / 'log'})" if where else ""
    raise ClusterError(f"{what} did not become ready within {timeout:.0f} s{logs}.")


def _ok(*cmd: str, env=None) -> bool:
    return subprocess.run(cmd, env=env, capture_output=True).returncode == 0


def munge_answers() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True)
    if encoded.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True).returncode == 0


def up(fresh: bool = False, log=print, point_machine: bool = True) -> Layout:
    """Install if needed, then start every component not already running; then (unless
    told not to) point the ledger's machine brecca at the cluster."""
    where = layout()
    install()
    if fresh:
        wipe(log=lambda *_: None)
    declared = _declarations(where)
    dbd_conf = _text(where.etc / "slurmdbd.conf")
    write_configs(where)
    pids = _load_pids(where)
    if (
        dbd_conf
        and dbd_conf != _text(where.etc / "slurmdbd.conf")
        and _terminate("slurmdbd", pids.get("slurmdbd", 0))
    ):  # slurmdbd loads its authentication plugins only when it starts
        log("stopped slurmdbd: slurmdbd.conf changed")
        pids.pop("slurmdbd", None)
    if (
        declared
        and declared != _declarations(where)
        and _terminate("slurmctld", pids.get("slurmctld", 0))
    ):  # a reconfigure adds no node and dies on a new node count: restart it instead
        log("stopped slurmctld: slurm.conf declares other nodes, partitions or authentication now")
        pids.pop("slurmctld", None)
    wanted = nodes_on(where)
    # Only the ports of components about to start: a running one of ours holds its own.
    check_ports(
        {
            port: what
            for name, (port, what) in {**component_ports(), **rest_ports()}.items()
            if not running(name, pids.get(name, 0))
            and (not name.startswith("slurmd-") or name.removeprefix("slurmd-") in wanted)
        }
    )
    for name in wanted:  # extra nodes started by name are not among component_ports()
        if not running(f"slurmd-{name}", pids.get(f"slurmd-{name}", 0)):
            check_ports({node_port(name, where): f"slurmd of {name}"})
    env = where.env()
    began = time.monotonic()

    if not munge_answers():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
        _wait(munge_answers, "munge")
        _record(where, "munged", _pid_from(Path("/run/munge/munged.pid")))
        log("started munge")

    if not running("mariadbd", pids.get("mariadbd", 0)):
        mysql = where.mysql_root / "mysql"
        mysql.mkdir(parents=True, exist_ok=True)
        where.mysql_socket.parent.mkdir(parents=True, exist_ok=True)
        for folder in (where.mysql_root, where.mysql_root / "run"):
            folder.chmod(0o755)
        if not (mysql / "mysql").exists():
            shutil.chown(mysql, "mysql", "mysql")
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={mysql}", "--user=mysql",
                 "--skip-test-db", "--auth-root-authentication-method=socket",
                 "--innodb-log-file-size=32M"],
                check=True, capture_output=True,
            )  # fmt: skip
        run_mysql = where.mysql_socket.parent
        shutil.chown(run_mysql, "mysql", "mysql")
        with open(where.root / "log" / "mariadb.log", "ab") as out:
            child = subprocess.Popen(
                ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={mysql}",
                 f"--socket={where.mysql_socket}", f"--pid-file={run_mysql}/mysqld.pid",
                 "--bind-address=127.0.0.1", f"--port={MYSQL_PORT}", "--skip-name-resolve",
                 "--innodb-buffer-pool-size=512M", "--innodb-log-file-size=32M",
                 "--innodb-lock-wait-timeout=900",
                 # A throwaway database: flush the log once a second, not at every commit.
                 "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin"],
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        _record(where, "mariadbd", child.pid)
        sock = ["mariadb", f"--socket={where.mysql_socket}", "-uroot"]
        _wait(lambda: _ok(*sock, "-e", "SELECT 1"), "MariaDB", where=where)
        subprocess.run(
            [*sock, "-e",
             "CREATE DATABASE IF NOT EXISTS slurm_acct_db; "
             f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'; "
             f"CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '{DB_PASSWORD}'; "
             "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; "
             "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"],
            check=True, capture_output=True,
        )  # fmt: skip
        log(f"started MariaDB on 127.0.0.1:{MYSQL_PORT}")

    if not running("slurmdbd", pids.get("slurmdbd", 0)):
        (where.root / "run" / "slurmdbd.pid").unlink(missing_ok=True)
        subprocess.run(["slurmdbd"], env=env, check=True)
        _record(where, "slurmdbd", _pid_from(where.root / "run" / "slurmdbd.pid"))
        _wait(lambda: _ok("sacctmgr", "-n", "show", "cluster", env=env), "slurmdbd", where=where)
        log("started slurmdbd")

    if not running("slurmctld", pids.get("slurmctld", 0)):
        (where.root / "run" / "slurmctld.pid").unlink(missing_ok=True)
        subprocess.run(["slurmctld"], env=env, check=True)
        _record(where, "slurmctld", _pid_from(where.root / "run" / "slurmctld.pid"))
        _wait(lambda: _ok("scontrol", "ping", env=env), "slurmctld", where=where)
        log("started slurmctld")
    else:
        subprocess.run(["scontrol", "reconfigure"], env=env, capture_output=True)

    if not running("slurmrestd", pids.get("slurmrestd", 0)):
        _start_slurmrestd(where)
        log(f"started slurmrestd on {rest_url()} as {REST_USER}")

    for name in wanted:
        with _locked(where):
            _start_slurmd(where, name)
    if wanted:
        nodes = ",".join(wanted)
        _wait(lambda: nodes_registered(where, wanted), f"the nodes {nodes}", where=where)
    log(f"cluster {CLUSTER} is up in {time.monotonic() - began:.1f} s; SLURM_CONF={where.conf}")
    if point_machine and point_machine_at(where):
        log(f"machine {CLUSTER} of the ledger now uses this cluster")
    return where


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _declarations(where: Layout) -> list[str]:
    """slurm.conf's node, partition, node-count and authentication lines ([] before the
    first `up`)."""
    lines = _text(where.conf).splitlines()
    # slurmctld takes these only on a restart
    kept = ("NodeName=", "PartitionName=", "MaxNodeCount=", "MaxJobCount=", "AuthAlt")
    return [x for x in lines if x.startswith(kept)]


# Registered and answering, whatever their drain: sinfo's short states without a suffix
# (a '*' is not responding, '~' powered off, '#' powering up, ...).
_REGISTERED = {"idle", "alloc", "mix", "comp", "drain", "drng", "resv", "plnd", "maint"}


def nodes_registered(where: Layout, names: list[str]) -> bool:
    """Whether each node's slurmd has registered with slurmctld and answers. A drained
    node counts: `up` brings back daemons, not someone's drain."""
    out = subprocess.run(["sinfo", "-h", "-N", "-n", ",".join(names), "-o", "%N %t"],
                         env=where.env(), capture_output=True, text=True).stdout  # fmt: skip
    states = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)
    return all(states.get(name) in _REGISTERED for name in names)


def _ensure_rest_user() -> None:
    if _ok("id", "-u", REST_USER):
        return
    done = subprocess.run(
        ["useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", REST_USER],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0 and not _ok("id", "-u", REST_USER):
        raise ClusterError(f"Could not create the user {REST_USER}: {done.stderr.strip()}")


def _start_slurmrestd(where: Layout) -> None:
    """slurmrestd as REST_USER (it drops to it before opening its socket), JWT only, one
    API version, started from / (a job sent without a working directory would start in
    slurmrestd's own). SLURM_JWT=daemon makes it forward each request's token: without it
    every request is refused (401)."""
    _ensure_rest_user()
    env = {**os.environ, "SLURM_CONF": str(where.rest_conf), "SLURM_JWT": "daemon"}
    with open(where.root / "log" / "slurmrestd.log", "ab") as out:
        child = subprocess.Popen(
            ["slurmrestd", "-u", REST_USER, "-g", REST_USER, "-a", "rest_auth/jwt",
             "-s", f"openapi/{REST_API},openapi/db{REST_API}", f"127.0.0.1:{SLURMRESTD_PORT}"],
            env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    _record(where, "slurmrestd", child.pid)
    _wait(lambda: child.poll() is None and rest_answers() is not None, "slurmrestd", 10, where)


def rest_answers(timeout: float = 2) -> int | None:
    """The HTTP status slurmrestd answers an unauthenticated ping with (401 when it is up
    and JWT-only), or None when nothing answers on its port."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{rest_url()}/slurm/{REST_API}/ping", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def _start_slurmd(where: Layout, name: str) -> bool:
    """Start one node's slurmd unless ours already runs; the caller holds the lock."""
    key = f"slurmd-{name}"
    if running(key, _load_pids(where).get(key, 0)):
        return False
    (where.spool / name).mkdir(parents=True, exist_ok=True)
    pidfile = where.root / "run" / f"{key}.pid"
    pidfile.unlink(missing_ok=True)
    done = subprocess.run(["slurmd", "-N", name], env=where.env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(
            f"slurmd of {name} did not start ({done.returncode}): {done.stderr.strip()} "
            f"(log: {where.root / 'log' / f'slurmd-{name}.log'})"
        )
    pids = _load_pids(where)
    pids[key] = _pid_from(pidfile)
    _save_pids(where, pids)
    return True


def start_node(name: str, where: Layout | None = None) -> bool:
    """Start the slurmd of node `name` (a static or FUTURE node of slurm.conf), recorded
    like the other daemons, and remember it should run. On loopback this plays "the
    node's deployed image has booted". Idempotent: True when it started one now.

    It returns once slurmd has daemonised, not once it has registered (the caller
    observes that through Slurm)."""
    where = where or layout()
    node_port(name, where)  # refuses a name slurm.conf does not declare
    if os.geteuid() != 0:
        raise ClusterError(f"Starting the slurmd of {name} needs root (slurmd runs as root).")
    with _locked(where):
        _set_node_on(where, name, True)
        return _start_slurmd(where, name)


def stop_node(name: str, where: Layout | None = None) -> bool:
    """Stop the slurmd of node `name` if ours runs, and remember it should not (so `up`
    leaves it stopped). On loopback this plays the node leaving the cluster. Idempotent:
    True when it stopped one now."""
    where = where or layout()
    node_port(name, where)
    key = f"slurmd-{name}"
    with _locked(where):
        _set_node_on(where, name, False)
        pids = _load_pids(where)
        stopped = _terminate(key, pids.get(key, 0))
        pids.pop(key, None)
        _save_pids(where, pids)
    return stopped


def _terminate(name: str, pid: int) -> bool:
    """SIGTERM our process, SIGKILL it if it outlives 20 s; False if it was not running."""
    if not pid or not running(name, pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def point_machine_at(where: Layout) -> bool:
    """Once the cluster is up, the ledger's machine `brecca` (the example site's) uses it."""
    from django.db import DatabaseError

    from allotment.resources.models import Machine

    try:
        machines = list(Machine.objects.filter(name=CLUSTER))
        for machine in machines:
            options = machine.engine_options or {}
            Machine.objects.filter(pk=machine.pk).update(
                engine="slurm",
                engine_options={
                    **options,
                    "slurm_conf": str(where.conf),
                    "cluster": CLUSTER,
                    # loopback: a shift or a burst VM plays a node's boot by starting its
                    # slurmd here.
                    "loopback": True,
                    # people's own jobs (allotment.jobs): submitted through slurmrestd with
                    # a token minted for the person, started in a directory all may write
                    "slurmrestd": rest_url(),
                    "jobs_dir": str(where.jobs),
                    # burst feeds the partition of the FUTURE nodes burst[1-8].
                    "burst": {
                        **(options.get("burst") or {}),
                        "partitions": [BURST_PARTITION],
                        "nodes": f"burst[1-{BURST_NODES}]",
                    },
                },
            )
        return bool(machines)
    except DatabaseError:  # the ledger is not migrated yet: nothing to point
        return False


def down(log=print) -> list[str]:
    """Stop the processes `up` started, newest first; returns their names."""
    where = layout()
    stopped = []
    with _locked(where):
        pids = _load_pids(where)
        order = ["slurmrestd"] + [k for k in pids if k.startswith("slurmd-")] + [
            "slurmctld", "slurmdbd", "mariadbd", "munged",
        ]  # fmt: skip
        for name in order:
            if _terminate(name, pids.get(name, 0)):
                stopped.append(name)
                log(f"stopped {name}")
        _save_pids(where, {})
    return stopped


def wipe(log=print) -> None:
    """Stop the cluster and forget its state and database (the next `up` starts empty)."""
    where = layout()
    down(log=log)
    for sub in ("state", "mysql", "spool", "log"):
        shutil.rmtree(where.root / sub, ignore_errors=True)
    shutil.rmtree(where.spool, ignore_errors=True)
    shutil.rmtree(where.mysql_root / "mysql", ignore_errors=True)
    where.nodes_on.unlink(missing_ok=True)  # a fresh cluster starts with its static nodes
    where.bench_record.unlink(missing_ok=True)


def status() -> dict:
    where = layout()
    pids = _load_pids(where)
    env = where.env()
    components = {name: {"pid": pid, "running": running(name, pid)} for name, pid in pids.items()}
    nodes = ""
    if where.conf.exists() and components.get("slurmctld", {}).get("running"):
        nodes = subprocess.run(["sinfo", "-h", "-o", "%P %a %D %t %N"], env=env,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {
        "cluster": CLUSTER,
        "installed": installed(),
        "slurm_conf": str(where.conf),
        "up": bool(components) and all(c["running"] for c in components.values()),
        "components": components,
        "nodes_on": nodes_on(where),
        "sinfo": nodes,
        "slurmrestd": {
            "url": rest_url(),
            "api": REST_API,
            "user": REST_USER,
            "answers": components.get("slurmrestd", {}).get("running", False)
            and rest_answers() is not None,
        },
        "jwt_key": str(where.jwt_key) if where.jwt_key.exists() else None,
    }
