"""Three agent processes sharing one loop's work on PostgreSQL, one killed in the middle.

Proves what leases.py claims: every unit is done exactly once (its step is atomic: the
step's row and the completion are one transaction), no two agents run one unit, and the
unit the killed agent held is taken over by another once its lease has expired.

The agents are real processes (a python -c entry that registers a test loop and runs the
agent's runner) against pytest-django's PostgreSQL test database; the test is transactional
so they see its rows, and it creates its work tables with raw SQL.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from urllib.parse import quote

import pytest
from django.db import connection

from allotment.agent.models import LoopStatus

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (several agents share work only there); set DATABASE_URL",
    ),
]

UNITS = 300
LEASE = 1.0

AGENT = textwrap.dedent(
    """
    import os, random, sys, time
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    django.setup()
    from django.db import connection
    from allotment.agent.registry import Loop
    from allotment.agent.runner import Agent

    def units():
        with connection.cursor() as cursor:
            cursor.execute("SELECT unit FROM agent_test_work ORDER BY unit")
            return [row[0] for row in cursor.fetchall()]

    def step(unit):
        time.sleep(random.uniform(0.005, 0.040))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO agent_test_done (unit, agent) VALUES (%s, %s)", [unit, agent.identity]
            )

    loop = Loop(name="test.work", interval=3600, targets=units, key=str, step=step,
                lease=float(sys.argv[1]), atomic=True)
    agent = Agent([loop])
    print(agent.identity, flush=True)
    agent.run_forever(interval=0.2, report=lambda item: None)
    """
)


def database_url() -> str:
    s = connection.settings_dict
    user = quote(s["USER"] or "postgres")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def sql(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


@pytest.fixture
def work_tables(transactional_db):
    sql("CREATE TABLE agent_test_work (unit integer PRIMARY KEY)")
    sql("CREATE TABLE agent_test_done (unit integer NOT NULL, agent text NOT NULL)")
    sql("INSERT INTO agent_test_work SELECT generate_series(1, %s)", [UNITS])
    yield
    sql("DROP TABLE agent_test_work")
    sql("DROP TABLE agent_test_done")


def start_agents(n: int, tmp_path) -> list[tuple[subprocess.Popen, str]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ALLOTMENT_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "allotment.settings",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, str(LEASE)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(n)
    ]
    return [(proc, proc.stdout.readline().strip()) for proc in procs]


def kill_while_holding_a_lease(proc: subprocess.Popen, identity: str) -> list[str]:
    """SIGKILL the agent at a moment it holds a lease (stopped first, so that the moment
    is certain); the units it held."""
    for _ in range(200):
        os.kill(proc.pid, signal.SIGSTOP)
        held = list(
            LoopStatus.objects.filter(lease_holder=identity).values_list("target", flat=True)
        )
        if held:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return held
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError("the agent never held a lease")


@pytest.mark.django_db(transaction=True)
def test_three_agents_do_every_unit_exactly_once_and_take_over_a_killed_ones_lease(
    work_tables, tmp_path
):
    agents = start_agents(3, tmp_path)
    try:
        wait_for(lambda: sql("SELECT count(*) FROM agent_test_done")[0][0] >= UNITS // 5, 30,
                 "a fifth of the work")  # fmt: skip
        victim, victim_id = agents[0]
        held = kill_while_holding_a_lease(victim, victim_id)
        killed_at = time.monotonic()
        wait_for(
            lambda: (
                sql("SELECT count(*) FROM agent_test_done")[0][0] >= UNITS
                and not LoopStatus.objects.filter(runs=0).exists()
            ),
            40,
            "every unit",
        )
        taken_over_after = time.monotonic() - killed_at
    finally:
        for proc, _ in agents:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in agents:
            proc.wait(timeout=20)

    # Exactly once: every unit has one row, and the loop ran every unit once.
    assert sql("SELECT count(*), count(DISTINCT unit) FROM agent_test_done") == [(UNITS, UNITS)]
    assert list(LoopStatus.objects.values_list("runs").order_by().distinct()) == [(1,)]
    # The work was shared; the killed agent's half-done step was undone with its
    # transaction and redone by another agent, which counted the takeover.
    by_agent = dict(sql("SELECT agent, count(*) FROM agent_test_done GROUP BY agent"))
    assert set(by_agent) <= {identity for _, identity in agents}
    assert len(by_agent) == 3
    for target in held:
        [(done_by,)] = sql("SELECT agent FROM agent_test_done WHERE unit = %s", [int(target)])
        assert done_by != victim_id
        row = LoopStatus.objects.get(loop="test.work", target=target)
        assert (row.takeovers, row.lease_holder) == (1, "")
    assert LoopStatus.objects.filter(takeovers__gt=0).count() == len(held)
    assert taken_over_after < 20
    # The survivors withdrew on SIGTERM; the killed one's heartbeat row stays, going stale.
    from allotment.agent.models import AgentProcess

    assert list(AgentProcess.objects.values_list("identity", flat=True)) == [victim_id]
