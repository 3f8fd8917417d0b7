"""/healthz: open to anyone, 503 only when the database is gone, degraded when the agent
is stale or migrations are pending."""

import json
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from allotment.agent.models import LoopStatus


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz", REMOTE_ADDR="203.0.113.9")  # anyone: a load balancer
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def loop(name: str, succeeded_ago: timedelta, interval: float = 300) -> LoopStatus:
    step, machine = name.split(":")
    last = timezone.now() - succeeded_ago
    return LoopStatus.objects.create(
        loop=step, target=machine, interval=interval,
        last_started=last, last_finished=last, last_ok=last, runs=1,
    )  # fmt: skip


def test_without_an_agent_all_is_well(client, db):
    assert healthz(client) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "agent": "absent"}},
    )


def test_an_agent_whose_loops_succeed_on_time_is_ok(client, db):
    loop("slurm.sync:brecca", timedelta(minutes=20), interval=900)
    loop("slurm.pull:brecca", timedelta(minutes=4))
    status, body = healthz(client)
    assert (status, body["status"], body["checks"]["agent"]) == (200, "ok", "ok")


def test_a_loop_that_has_not_succeeded_for_two_intervals_is_stale(client, db):
    loop("slurm.sync:brecca", timedelta(minutes=1), interval=900)
    loop("slurm.pull:brecca", timedelta(minutes=12))  # every 5 minutes, last 12 minutes ago
    status, body = healthz(client)
    assert (status, body["status"], body["checks"]["agent"]) == (200, "degraded", "stale")


def test_a_loop_that_never_succeeded_is_stale(client, db):
    LoopStatus.objects.create(
        loop="slurm.pull", target="brecca", interval=300,
        last_started=timezone.now(), last_error="slurmdbd down", consecutive_failures=1,
    )  # fmt: skip
    status, body = healthz(client)
    assert (status, body["status"], body["checks"]["agent"]) == (200, "degraded", "stale")
    assert "slurmdbd" not in json.dumps(body)  # errors are logged, not shown to anyone


def test_pending_migrations_degrade_and_are_asked_once_per_process(client, db, monkeypatch):
    asked = []

    def plan(self, targets, clean_start=False):
        asked.append(targets)
        return [("some_app.0002_new", False)]

    monkeypatch.setattr(MigrationExecutor, "migration_plan", plan)
    status, body = healthz(client)
    assert (status, body["status"], body["checks"]["migrations"]) == (200, "degraded", "pending")
    healthz(client)
    assert len(asked) == 1


def test_without_a_database_it_fails_with_503(client, db, monkeypatch):
    def refuse(*args, **kwargs):
        raise DatabaseError("could not connect to server at db.internal:5432")

    monkeypatch.setattr(connection, "cursor", refuse)
    try:
        status, body = healthz(client)
    finally:
        monkeypatch.undo()
    assert status == 503
    assert body == {
        "status": "fail",
        "checks": {"database": "fail", "migrations": "unknown", "agent": "unknown"},
    }


def test_it_needs_no_session_and_sets_no_cookie(client, db):
    response = client.get("/healthz")
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]
