"""Shift benchmark: N nodes (default 100) shifted at once out of the loopback Slurm, through
the real Ironic, into a cloud; the controller's own time per node beyond the engines' time
(target <= 1 s), and the total.

    .venv/bin/python bench/shift.py [--nodes N] [--sqlite] [--tick S] [--timeout S]
                                    [--agent inprocess|process [--agents K]]
                                    [--status-by-get]

As root (the loopback Slurm runs its daemons as root). PostgreSQL (database allot_bench,
BENCH_PG_URL) when it answers, else SQLite; --sqlite asks for SQLite.

The setting, and why:
- Out of brecca, on the loopback Slurm: `ALLOTMENT_SLURM_BENCH_NODES=N` declares static
  nodes bench001..benchN (devcluster.bench_nodes), each with its own slurmd started here,
  so every node is registered and IDLE when the shift starts, and the shift really drains
  it, marks it down and stops its slurmd (what a node leaving costs on a real cluster:
  scontrol and squeue round trips). Adding nodes needs slurmctld restarted, so the
  cluster is restarted with them, and again without them at the end (left up only if it
  was up): so run it when no one else uses the loopback Slurm (slurmctld forgets its saved
  jobs when the node count shrinks, and a test session's `up` meanwhile reconfigures it).
- Through the real Ironic (fake hardware, `allot dev ironic up`): the nodes are imported
  as in service in brecca with their MACs, so the shift meets Ironic on leaving, as
  adopted nodes do: enrol (create, port, manage, provide), then deploy the cloud image.
- Into tango, the example site's cloud, on the local engine with boot_seconds 0: joining
  costs next to nothing, so what is measured is Slurm's way out and Ironic's way through.
  The way back into Slurm (start 100 slurmds and resume them) would measure the loopback's
  slurmd start-up more than the controller, and the real Nova joining path is proven by
  the round-trip test, not timed here.

The agent: by default the real runner (agent.runner.Agent) with the real shift loop
(inventory.loops.SHIFT) in this process, its interval unchanged (2 s per node), passes
every --tick seconds; the engines are wrapped by a timing proxy installed through
inventory.drivers, so the time inside engine calls is summed apart from the rest.
Controller time = time inside agent passes - time inside engine calls (the runner's own
bookkeeping included). `--agent process` runs `allot agent run --loop inventory.shift` as
a subprocess instead (the most honest wall time, but no engine/controller split), or K of
them sharing the nodes under leases (--agents K, PostgreSQL).

Printed: nodes, wall time until all are in service, passes and steps (and what they said),
engine time by engine and call, controller time total and per node, CPU time of the agent,
of Ironic and of slurmctld, and Ironic's time per node. --status-by-get measures a
suggested change to the Ironic provisioner without making it (see status_by_get).
Nothing generated is committed; the fresh ledger lives in a temporary var directory.
Ironic's bench nodes are deleted at the end.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path

os.environ.setdefault("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/allot_bench")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, fresh_environment, postgres_answers

BENCH_NAME = re.compile(r"^bench\d{3}$")
TARGET_PER_NODE = 1.0  # s of controller time per node, from issue 12
STALL = 120  # s without any node moving: the run is given up


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- timing the engines --------------------------------------------------------------------


class Ledger:
    """Time spent inside engine calls, by (engine, method) and by node."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
        self.by_node: dict[tuple[str, str], float] = defaultdict(float)
        self.total = 0.0

    def add(self, engine: str, method: str, subject: str, seconds: float) -> None:
        entry = self.calls[(engine, method)]
        entry[0] += 1
        entry[1] += seconds
        self.by_node[(engine, subject)] += seconds
        self.total += seconds


def _subject(args: tuple) -> str:
    """The node a call is about: a host name, a provisioner identity or a NodeSpec's name."""
    if not args:
        return ""
    first = args[0]
    if isinstance(first, str):
        return first
    if isinstance(first, list | tuple) and len(first) == 1:
        return str(first[0])
    return getattr(first, "name", "") or ""


def _gist(said: str) -> str:
    """A step's result without its node names and numbers, to count alike ones together."""
    said = re.sub(r"\bbench\d+\b", "NODE", str(said))
    return re.sub(r"\d+", "N", said)[:90]


class Timed:
    """A proxy for an engine port: every public method call is timed into the ledger."""

    def __init__(self, engine: str, port, ledger: Ledger) -> None:
        self._engine, self._port, self._ledger = engine, port, ledger

    def __getattr__(self, name: str):
        attr = getattr(self._port, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._ledger.add(self._engine, name, _subject(args), time.perf_counter() - began)

        return timed


def status_by_get() -> None:
    """Experiment (--status-by-get), to measure a suggested change without making it:
    IronicProvisioner.statuses asks one GET per node when asked about a few, instead of
    listing every node Ironic has (the reconcile step asks about one node at a time)."""
    from allotment.integrations.ironic import provisioner as ironic
    from allotment.inventory.engines import EngineError

    listing = ironic.IronicProvisioner.statuses

    def statuses(self, idents):
        wanted = list(dict.fromkeys(idents))
        if len(wanted) > 3:
            return listing(self, wanted)
        found = {}
        for ident in wanted:
            try:
                node = self._get(ident)
            except EngineError as e:
                if "does not know it" not in str(e):
                    raise
                node = None
            found[ident] = ironic.status_of(node)
        return found

    ironic.IronicProvisioner.statuses = statuses


def install_timers(ledger: Ledger) -> None:
    """Wrap what inventory.drivers hands the reconcile step (it looks them up per call)."""
    from allotment.inventory import drivers

    provisioner, service = drivers.provisioner, drivers.service

    def timed_provisioner(p):
        return Timed(f"provisioner:{p.driver}", provisioner(p), ledger)

    def timed_service(machine):
        return Timed(f"service:{machine.engine}", service(machine), ledger)

    drivers.provisioner, drivers.service = timed_provisioner, timed_service


# -- the child: a fresh ledger, the shift, the agent ----------------------------------------


def ledger_setup(count: int, endpoint: str) -> list:
    """The example site, brecca on the loopback Slurm, tango on the local engine, the real
    Ironic as provisioner, and bench001..benchN imported as in service in brecca."""
    from django.conf import settings

    from allotment.demo import site
    from allotment.integrations.slurm import devcluster
    from allotment.inventory.models import Image, Node, Provisioner
    from allotment.inventory.services import import_nodes
    from allotment.resources.models import Machine

    settings.ALLOTMENT_SHIFT_MAX_PARALLEL = max(100, count)
    site.load()
    if not devcluster.point_machine_at(devcluster.layout()):
        sys.exit("could not point brecca at the loopback Slurm")
    Machine.objects.filter(name="tango").update(engine="local",
                                                engine_options={"boot_seconds": 0})  # fmt: skip
    Provisioner.objects.create(name="ironic", driver="ironic", options={"endpoint": endpoint})
    for name, kind in (("brecca-compute", "batch"), ("tango-hypervisor", "cloud")):
        Image.objects.create(name=name, kind=kind, checksum="sha256:" + "0" * 64,
                             source_url=f"http://127.0.0.1:9/{name}.qcow2")  # fmt: skip
    prefix = secrets.token_hex(2)
    lines = [
        f"- {{name: bench{n:03d}, cpus: 2, memory_mb: 1000, service: brecca, "
        f"provisioner: ironic, bmc_driver: ipmi, rack: b{(n - 1) // 40 + 1}, "
        f"macs: ['52:54:{prefix[:2]}:{prefix[2:]}:{n // 256:02x}:{n % 256:02x}']}}"
        for n in range(1, count + 1)
    ]
    import_nodes("bench.yaml", "\n".join(lines) + "\n")
    return list(Node.objects.filter(name__startswith="bench").order_by("name"))


def progress(nodes) -> dict[str, int]:
    """The nodes by state, those in service by where: "in_service:brecca" at the start."""
    from django.db.models import Count

    from allotment.inventory.models import Node

    rows = (
        Node.objects.filter(pk__in=[n.pk for n in nodes])
        .values("state", "service__name")
        .annotate(n=Count("pk"))
    )
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        key = f"in_service:{r['service__name']}" if r["state"] == "in_service" else r["state"]
        counts[key] += r["n"]
    return dict(counts)


def settled(counts: dict[str, int], total: int) -> bool:
    """Every node in tango, or failed."""
    from allotment.core import fsm
    from allotment.inventory.states import NodeStates

    failed = sum(
        v
        for k, v in counts.items()
        if k in NodeStates.states and NodeStates.states[k].kind == fsm.Kind.FAILED
    )
    return counts.get("in_service:tango", 0) + failed >= total


def engine_cpu() -> dict[str, float]:
    """CPU seconds used so far by Ironic's API/conductor worker (the process holding its
    port) and by slurmctld: the engines' own work, beside the time we wait on them."""
    from allotment.integrations.ironic import devironic
    from allotment.integrations.slurm import devcluster

    pids = {"slurmctld": devcluster.status()["components"].get("slurmctld", {}).get("pid")}
    for holder in devcluster.port_holders(devironic.PORT):
        pids["ironic"] = int(holder.split()[1])
    used = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def child_run(
    count: int, endpoint: str, agent_mode: str, agents: int, tick: float, timeout: float
) -> None:
    setup_django()
    from dataclasses import replace

    from django.db import close_old_connections

    from allotment.agent.runner import Agent
    from allotment.inventory import loops
    from allotment.inventory.models import CapacityChange, Node
    from allotment.inventory.services import request_shift
    from allotment.resources.models import Machine

    nodes = ledger_setup(count, endpoint)
    tango = Machine.objects.get(name="tango")
    ledger = Ledger()
    steps: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    outcomes: dict[str, int] = defaultdict(int)
    ticks = [0, 0.0]

    if agent_mode == "inprocess":
        # A running agent has its engines' client libraries loaded (openstacksdk alone takes
        # about a second to import): load them before the clock starts.
        import allotment.integrations.ironic.provisioner
        import allotment.integrations.slurm.nodes  # noqa: F401

        install_timers(ledger)
        if os.environ.get("BENCH_STATUS_BY_GET"):
            status_by_get()

        def timed_step(node):
            began, said = time.perf_counter(), "raised"
            try:
                said = loops.step_node(node)
                return said
            finally:
                entry = steps[node.state]  # the state the step started from
                entry[0] += 1
                entry[1] += time.perf_counter() - began
                outcomes[f"{node.state}: {_gist(said)}"] += 1

        agent = Agent([replace(loops.SHIFT, step=timed_step)])

    engines0 = engine_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    shift = request_shift(nodes, tango, parallel=count, via="bench")
    requested = time.perf_counter() - wall0
    say(f"shift {shift.pk}: {count} nodes out of brecca into tango, requested in "
        f"{requested:.2f} s")  # fmt: skip
    counts: dict[str, int] = {}
    shown = 0.0
    deadline = time.monotonic() + timeout
    last_change, last_counts = time.monotonic(), {}

    def stalled() -> bool:
        """Nothing moved for STALL s (an engine down): stop and report, not wait it out."""
        nonlocal last_change, last_counts
        if counts != last_counts:
            last_change, last_counts = time.monotonic(), counts
        if time.monotonic() - last_change > STALL:
            say(f"  no node moved for {STALL} s: stopping")
            return True
        return time.monotonic() > deadline

    if agent_mode == "inprocess":
        with agent.beating():
            while True:
                close_old_connections()
                began = time.perf_counter()
                agent.tick()
                ticks[0] += 1
                ticks[1] += time.perf_counter() - began
                counts = progress(nodes)
                if settled(counts, count) or stalled():
                    break
                if time.perf_counter() - shown > 5:
                    shown = time.perf_counter()
                    say(f"  {time.perf_counter() - wall0:6.1f} s  {counts}")
                time.sleep(tick)
    else:
        allot = Path(sys.executable).with_name("allot")
        command = [allot, "agent", "run", "--loop", "inventory.shift", "--tick", str(tick)]
        processes = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
            for _ in range(agents)
        ]
        try:
            while not settled(counts := progress(nodes), count):
                if stalled() or any(p.poll() is not None for p in processes):
                    break
                if time.perf_counter() - shown > 5:
                    shown = time.perf_counter()
                    say(f"  {time.perf_counter() - wall0:6.1f} s  {counts}")
                time.sleep(0.2)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    engines = {k: v - engines0.get(k, 0.0) for k, v in engine_cpu().items()}

    shift.refresh_from_db()
    ironic_per_node = [
        ledger.by_node.get(("provisioner:ironic", n.name), 0.0)
        + ledger.by_node.get(("provisioner:ironic", n.provision_id), 0.0)
        for n in Node.objects.filter(pk__in=[n.pk for n in nodes])
    ]
    failed = {
        n.name: f"{n.state}: {n.last_error}"
        for n in Node.objects.filter(pk__in=[n.pk for n in nodes]).exclude(
            state="in_service", service=tango
        )
    }
    print(json.dumps({
        "nodes": count,
        "agent": (agent_mode if agent_mode == "inprocess" else f"{agents} x allot agent run")
        + (" (Ironic status by GET)" if os.environ.get("BENCH_STATUS_BY_GET") else ""),
        "inprocess": agent_mode == "inprocess",
        "engine cpu s": engines,
        "counts": counts,
        "failed": dict(list(failed.items())[:10]),
        "shift finished": shift.finished_at is not None,
        "capacity changes": {
            m: CapacityChange.objects.filter(shift=shift, machine__name=m).count()
            for m in ("brecca", "tango")
        },
        "request s": requested,
        "wall s": wall,
        "passes": ticks[0],
        "pass s": ticks[1],
        "steps": {state: entry for state, entry in steps.items()},
        "outcomes": outcomes,
        "engine s": ledger.total,
        "engine calls": {f"{e} {m}": v for (e, m), v in sorted(ledger.calls.items())},
        "ironic per node s": ironic_per_node,
        "cpu s": cpu,
        "children cpu s": children.ru_utime + children.ru_stime,
    }))  # fmt: skip


# -- the parent: engines up, the child, figures, clean-up ------------------------------------


def test_sessions() -> list[str]:
    """Test sessions running now: one using the loopback Slurm meanwhile (the lead's round
    trip) would see it restarted, and its figures ours disturbed. Say so."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line.strip()[:160] for line in out.splitlines() if "bin/pytest" in line]


def slurm_with_bench_nodes(count: int) -> tuple[bool, object]:
    """Restart the loopback Slurm with bench001..benchN declared and their slurmds running;
    return whether it was up before."""
    from allotment.integrations.slurm import devcluster

    was_up = devcluster.status()["up"]
    if was_up:
        devcluster.down(log=lambda *_: None)  # 22.05 adds nodes only on a restart
    os.environ[devcluster.BENCH_NODES_ENV] = str(count)
    began = time.perf_counter()
    where = devcluster.up(log=lambda *_: None, point_machine=False)
    bench = devcluster.bench_nodes()
    for name in bench:
        devcluster.start_node(name, where)
    deadline = time.monotonic() + 120
    while not devcluster.nodes_registered(where, bench):
        if time.monotonic() > deadline:
            sys.exit(f"the bench nodes did not register within 120 s (logs in {where.root}/log)")
        time.sleep(0.5)
    say(f"Slurm: {count} bench nodes registered, {time.perf_counter() - began:.1f} s")
    return was_up, where


def slurm_restore(was_up: bool) -> None:
    """Stop what is left of the bench nodes and restart the cluster without them (the
    variable set to 0 drops them and their record); leave it down unless it was up."""
    from allotment.integrations.slurm import devcluster

    where = devcluster.layout()
    for name in devcluster.bench_nodes(where):
        devcluster.stop_node(name, where)
    devcluster.down(log=lambda *_: None)
    os.environ[devcluster.BENCH_NODES_ENV] = "0"
    devcluster.write_configs(where)
    if was_up:
        devcluster.up(log=lambda *_: None, point_machine=False)
    say(f"Slurm: bench nodes removed; cluster {'up' if was_up else 'left down'} as found")


def ironic_connection(endpoint: str):
    import openstack

    return openstack.connect(auth_type="none", baremetal_endpoint_override=endpoint,
                             load_envvars=False, load_yaml_config=False)  # fmt: skip


def ironic_forget_bench_nodes(endpoint: str) -> int:
    """Delete the nodes named bench001.. from Ironic, in whatever state (maintenance first,
    as an active node is deleted only so); returns how many."""
    conn = ironic_connection(endpoint)
    gone = 0
    for node in conn.baremetal.nodes(fields=["uuid", "name", "provision_state"]):
        if not BENCH_NAME.match(node.name or ""):
            continue
        conn.baremetal.set_node_maintenance(node.id, reason="bench/shift.py clean-up")
        conn.baremetal.delete_node(node.id, ignore_missing=True)
        gone += 1
    return gone


def ironic_times(endpoint: str) -> list[float]:
    """From Ironic's own records: each bench node's created_at (enrolled by the shift) to
    its last provision update (active): how long Ironic had each node until it was
    deployed, the agent's passes between enrol and deploy included. (The SDK's Node has no
    provision_updated_at, and `fields` refuses created_at: so the API's own detail list.)"""
    request = urllib.request.Request(
        f"{endpoint}/v1/nodes/detail", headers={"X-OpenStack-Ironic-API-Version": "latest"}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        listed = json.load(reply)["nodes"]
    return [
        (
            datetime.fromisoformat(node["provision_updated_at"])
            - datetime.fromisoformat(node["created_at"])
        ).total_seconds()
        for node in listed
        if BENCH_NAME.match(node.get("name") or "")
        and node.get("provision_updated_at")
        and node.get("created_at")
    ]


def ironic_probe(endpoint: str, rounds: int = 20) -> dict[str, float]:
    """What one node's status costs, with the bench nodes still enrolled: the provisioner's
    `statuses([one])` (a listing of every node) against one GET of that node."""
    from allotment.integrations.ironic.provisioner import FIELDS, IronicProvisioner

    port = IronicProvisioner({"endpoint": endpoint})
    listed = port.request("list", "", lambda bm: list(bm.nodes(fields=["uuid", "name"])))
    ours = [n.id for n in listed if BENCH_NAME.match(n.name or "")]
    if not ours:
        return {}
    began = time.perf_counter()
    for i in range(rounds):
        port.statuses([ours[i % len(ours)]])
    listing = (time.perf_counter() - began) / rounds
    began = time.perf_counter()
    for i in range(rounds):
        ident = ours[i % len(ours)]
        port.request("get", ident, lambda bm, ident=ident: bm.get_node(ident, fields=FIELDS))
    one = (time.perf_counter() - began) / rounds
    return {"nodes in Ironic": len(listed), "listing ms": listing * 1000, "get ms": one * 1000}


def _table(title: str, rows: dict[str, list], unit: str) -> None:
    print(title)
    for label, (count, seconds) in sorted(rows.items(), key=lambda item: -item[1][1]):
        each = seconds / count * 1000 if count else 0.0
        print(f"    {label:36s} {count:5d} {unit} {seconds:8.2f} s {each:8.1f} ms each")


def report(figures: dict, engine: str, ironic_spans: list[float], probe: dict) -> bool:
    """Print the figures; True if every node arrived and the target is met."""
    n = figures["nodes"]
    done = figures["counts"].get("in_service:tango", 0)
    print(
        f"shift benchmark: {n} nodes out of brecca (loopback Slurm) through Ironic into tango "
        f"(local cloud), agent {figures['agent']}, on {engine}"
    )
    print(
        f"  in service in tango: {done}/{n}; shift finished: {figures['shift finished']}; "
        f"capacity changes: {figures['capacity changes']}"
    )
    if figures["failed"]:
        print(f"  NOT in service (first 10): {figures['failed']}")
    print(f"  request_shift: {figures['request s']:.2f} s")
    print(f"  wall time until all in service: {figures['wall s']:.1f} s")
    if figures["inprocess"]:
        print(
            f"  CPU time of the agent's process: {figures['cpu s']:.1f} s; of its child "
            f"processes (scontrol, squeue, ...): {figures['children cpu s']:.1f} s"
        )
    else:
        print(
            f"  CPU time of the agent processes and theirs (scontrol, squeue, ...): "
            f"{figures['children cpu s']:.1f} s"
        )
    for name, seconds in sorted(figures["engine cpu s"].items()):
        print(f"  CPU time of {name}: {seconds:.1f} s = {seconds / n * 1000:.0f} ms per node")
    ok = done == n
    if not figures["inprocess"]:
        return ok
    steps = sum(e[0] for e in figures["steps"].values())
    step_s = sum(e[1] for e in figures["steps"].values())
    engine_s, passes_s = figures["engine s"], figures["pass s"]
    print(
        f"  agent passes: {figures['passes']} taking {passes_s:.1f} s (idle between passes "
        f"{figures['wall s'] - passes_s:.1f} s)"
    )
    _table(
        f"  steps: {steps} ({steps / n:.1f} per node) taking {step_s:.1f} s; by the state "
        "they started from:",
        figures["steps"],
        "steps",
    )
    print("  what the steps said:")
    for said, count in sorted(figures["outcomes"].items(), key=lambda item: -item[1]):
        print(f"    {count:5d}  {said}")
    _table(f"  engine time: {engine_s:.1f} s; by call:", figures["engine calls"], "calls")
    controller = passes_s - engine_s
    per_node = controller / n
    met = "met" if per_node <= TARGET_PER_NODE else "NOT MET"
    print(
        f"  controller time (passes - engine): {controller:.1f} s = {per_node:.3f} s per node "
        f"(in steps {step_s - engine_s:.1f} s, runner bookkeeping {passes_s - step_s:.1f} s); "
        f"target <= {TARGET_PER_NODE:.0f} s per node: {met}"
    )
    ironic = figures["ironic per node s"]
    if ironic:
        print(
            f"  Ironic calls per node: mean {sum(ironic) / len(ironic):.2f} s, "
            f"max {max(ironic):.2f} s"
        )
    if ironic_spans:
        print(
            "  Ironic's own records, enrolled to active per node (agent passes between "
            f"included): median {statistics.median(ironic_spans):.1f} s, "
            f"max {max(ironic_spans):.1f} s"
        )
    if probe:
        print(
            f"  one node's status with {probe['nodes in Ironic']} nodes in Ironic: "
            f"statuses([one]) (a listing) {probe['listing ms']:.0f} ms, one GET "
            f"{probe['get ms']:.0f} ms"
        )
    return ok and per_node <= TARGET_PER_NODE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100, help="nodes to shift (default 100)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL answers")
    parser.add_argument("--agent", choices=["inprocess", "process"], default="inprocess")
    parser.add_argument(
        "--agents", type=int, default=1, help="with --agent process: this many (PostgreSQL)"
    )
    parser.add_argument(
        "--status-by-get",
        action="store_true",
        help="experiment: a few nodes' Ironic status by GET, not a listing (in-process)",
    )
    parser.add_argument("--tick", type=float, default=0.5, help="seconds between agent passes")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if not 1 <= args.nodes <= 500:
        sys.exit("--nodes must be between 1 and 500")
    if os.geteuid() != 0:
        sys.exit("run as root: the loopback Slurm runs its daemons as root")
    engine = "sqlite" if args.sqlite or not postgres_answers() else "postgresql"
    if args.status_by_get and args.agent != "inprocess":
        sys.exit("--status-by-get patches the provisioner in this process: --agent inprocess")
    if args.agents != 1 and (args.agent != "process" or engine == "sqlite"):
        sys.exit("--agents runs several `allot agent run`: with --agent process, on PostgreSQL")

    # The engines' run directories are the project's (not the fresh ledger's var directory).
    var = Path(os.environ.get("ALLOTMENT_VAR_DIR", ROOT / "var")).resolve()
    os.environ.setdefault("ALLOTMENT_SLURM_DIR", str(var / "slurm"))
    os.environ.setdefault("ALLOTMENT_IRONIC_DIR", str(var / "ironic"))
    setup_django()
    from allotment.integrations.ironic import devironic
    from allotment.integrations.slurm import devcluster

    if not devcluster.installed():
        devcluster.install()
    busy = test_sessions()
    if busy:
        say("note: test sessions are running (the figures share 2 cores with them):\n  "
            + "\n  ".join(busy))  # fmt: skip

    where = devironic.layout()
    where.users.parent.mkdir(parents=True, exist_ok=True)
    with open(where.users, "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)  # as the tests do: Ironic stays up while we use it
        started_ironic = False if devironic.answers() else devironic.start(log=say)
        endpoint = devironic.endpoint()
        was_up = False
        try:
            leftovers = ironic_forget_bench_nodes(endpoint)
            if leftovers:
                say(f"Ironic: deleted {leftovers} bench nodes an earlier run left")
            was_up, _ = slurm_with_bench_nodes(args.nodes)
            env = fresh_environment(engine)
            if args.status_by_get:
                env["BENCH_STATUS_BY_GET"] = "1"
            out = subprocess.run(
                [sys.executable, __file__, "child", str(args.nodes), endpoint, args.agent,
                 str(args.agents), str(args.tick), str(args.timeout)],
                env=env, check=True, stdout=subprocess.PIPE, text=True,
            ).stdout  # fmt: skip
            figures = json.loads(out.strip().splitlines()[-1])
            spans, probe = ironic_times(endpoint), ironic_probe(endpoint)
            ok = report(figures, engine, spans, probe)
        finally:
            say(f"Ironic: deleted {ironic_forget_bench_nodes(endpoint)} bench nodes")
            slurm_restore(was_up)
            if started_ironic:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    devironic.down(log=say)
                except BlockingIOError:
                    say("Ironic: left up, another session uses it")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        count, endpoint, mode, agents, tick, timeout = sys.argv[2:8]
        child_run(int(count), endpoint, mode, int(agents), float(tick), float(timeout))
    else:
        main()
