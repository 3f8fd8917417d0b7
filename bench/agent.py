"""Agent benchmark: the runner's own cost per step, and how soon a dead agent's work is
taken over.

    .venv/bin/python bench/agent.py [postgresql|sqlite]     (default postgresql)

1. Overhead: one loop over 10,000 targets whose step does nothing, so a pass's whole time is
   the agent's: listing the targets and their rows, and per unit the lease claim and the
   UPDATE recording the outcome (plus, for an atomic loop, the transaction and the row
   lock). Target: <= 2 ms per step on PostgreSQL.
2. Takeover: agent A runs a step that never ends on one target (its heartbeat keeps the
   lease); A is SIGKILLed; agent B, already running, takes the unit over once the lease
   has expired. Target: <= 2 x the lease length.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_environment, postgres_answers

TARGETS = 10_000
LEASE = 2.0


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()


def overhead() -> None:
    setup_django()
    from allotment.agent.models import LoopStatus
    from allotment.agent.registry import Loop
    from allotment.agent.runner import Agent

    figures = {}
    for atomic in (False, True):
        name = "bench.atomic" if atomic else "bench.noop"
        loop = Loop(name=name, interval=3600, targets=lambda: range(TARGETS), key=str,
                    step=lambda target: None, atomic=atomic)  # fmt: skip
        agent = Agent([loop])
        began = time.perf_counter()
        first = agent.tick()
        first_pass = time.perf_counter() - began
        assert len(first) == TARGETS
        began = time.perf_counter()
        assert agent.tick() == []
        idle_pass = time.perf_counter() - began
        LoopStatus.objects.filter(loop=name).update(next_due=None)
        began = time.perf_counter()
        assert len(agent.tick()) == TARGETS
        steady_pass = time.perf_counter() - began
        agent.shutdown()
        figures[name] = {
            "first pass (rows created) s": round(first_pass, 2),
            "pass with nothing due s": round(idle_pass, 3),
            "pass with every unit due s": round(steady_pass, 2),
            "overhead per step ms": round(steady_pass / TARGETS * 1000, 3),
        }
    print(json.dumps(figures))


def hold() -> None:
    """Agent A or B: one target whose step sleeps long (A) or returns at once (B)."""
    setup_django()
    from allotment.agent.registry import Loop
    from allotment.agent.runner import Agent

    slow = sys.argv[2] == "slow"
    loop = Loop(name="bench.takeover", interval=3600, targets=lambda: ["only"], key=str,
                step=lambda target: time.sleep(3600 if slow else 0), lease=LEASE)  # fmt: skip
    agent = Agent([loop])
    print(agent.identity, flush=True)
    agent.run_forever(interval=0.05, report=lambda item: None)


def takeover(env: dict) -> dict:
    import psycopg

    me = [sys.executable, __file__]
    a = subprocess.Popen([*me, "hold", "slow"], env=env, stdout=subprocess.PIPE, text=True)
    a_id = a.stdout.readline().strip()
    url = env.get("DATABASE_URL")

    def holder() -> str | None:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT lease_holder FROM agent_loopstatus WHERE loop = 'bench.takeover'"
            ).fetchone()
            return row[0] if row else None

    while holder() != a_id:
        time.sleep(0.02)
    b = subprocess.Popen([*me, "hold", "fast"], env=env, stdout=subprocess.PIPE, text=True)
    b.stdout.readline()
    time.sleep(LEASE * 1.5)  # A's heartbeat has renewed the lease past its first expiry
    assert holder() == a_id, "the lease of a live agent was taken"
    os.kill(a.pid, signal.SIGKILL)
    killed = time.monotonic()
    a.wait()
    while holder() == a_id:
        time.sleep(0.01)
    taken = time.monotonic() - killed
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=30)
    return {"lease s": LEASE, "takeover after SIGKILL s": round(taken, 2),
            "target s": 2 * LEASE, "met": taken <= 2 * LEASE}  # fmt: skip


def main() -> None:
    engine = sys.argv[1] if len(sys.argv) > 1 else "postgresql"
    if engine == "postgresql" and not postgres_answers():
        sys.exit("PostgreSQL does not answer at BENCH_PG_URL")
    env = fresh_environment(engine)
    out = subprocess.run(
        [sys.executable, __file__, "overhead"], env=env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    figures = json.loads(out.strip().splitlines()[-1])
    print(f"agent overhead, {TARGETS:,} targets in one loop, on {engine}:")
    for loop, values in figures.items():
        print(f"  {loop}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
        target = values["overhead per step ms"] <= 2
        print(f"    target <= 2 ms per step: {'met' if target else 'NOT MET'}")
    if engine == "postgresql":
        result = takeover(env)
        print(f"lease takeover after SIGKILL (lease {LEASE} s): "
              f"{result['takeover after SIGKILL s']} s, target <= {result['target s']} s: "
              f"{'met' if result['met'] else 'NOT MET'}")  # fmt: skip
    else:
        print("lease takeover: not measured on SQLite (one agent runs there)")


if __name__ == "__main__":
    {"overhead": overhead, "hold": hold}.get(sys.argv[1] if len(sys.argv) > 1 else "", main)()
