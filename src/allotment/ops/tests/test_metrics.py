"""/metrics: request counts by URL pattern, the ledger's and the agent's gauges, and who
may read them."""

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

from django.db import DatabaseError
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.utils import timezone

from allotment.agent.models import LoopStatus
from allotment.agent.tests.test_loops import slurm_agent, slurm_machines
from allotment.ops import collectors
from allotment.ops.middleware import RequestMetricsMiddleware
from allotment.usage.models import ImportRun, QuarantinedRecord

from .conftest import scrape, value

REQUESTS = "allotment_http_requests_total"


def test_a_request_is_counted_by_its_url_pattern_and_status(client, db):
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    after = scrape(client)
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(after, REQUESTS, **labels) == value(before, REQUESTS, **labels) + 1
    count = "allotment_http_request_duration_seconds_count"
    assert value(after, count, route="/healthz") == value(before, count, route="/healthz") + 1
    assert value(after, "process_cpu_seconds_total") > 0  # the process collectors are in


def test_a_path_that_matches_no_pattern_is_unmatched_not_its_path(client, db):
    before = scrape(client)
    client.get("/no-such-page-7f3a/")
    after = scrape(client)
    grown = {key for key, v in after.items() if key[0] == REQUESTS and v > before.get(key, 0)}
    routes = {dict(labels)["route"] for _, labels in grown}
    assert "unmatched" in routes
    assert not any("7f3a" in str(key) for key in after)


def test_a_parametrised_url_is_labelled_by_its_pattern(client, db):
    client.get("/admin/usage/importrun/12345/change/")
    routes = {dict(labels).get("route") for name, labels in scrape(client) if name == REQUESTS}
    assert "/admin/usage/importrun/<path:object_id>/change/" in routes
    assert not any("12345" in (route or "") for route in routes)


def test_the_middleware_leaves_a_streamed_body_unread():
    started = []

    def body():
        started.append(True)
        yield b"chunk"

    streamed = StreamingHttpResponse(body())
    middleware = RequestMetricsMiddleware(lambda request: streamed)
    response = middleware(RequestFactory().get("/anything"))
    assert response is streamed and started == []
    assert b"".join(response.streaming_content) == b"chunk"


def test_an_odd_method_is_counted_as_other():
    middleware = RequestMetricsMiddleware(lambda request: HttpResponse(status=405))
    from allotment.ops.metrics import REQUESTS as counter

    child = counter.labels("other", "unmatched", "405")
    before = child._value.get()
    middleware(RequestFactory().generic("BREW", "/pot"))
    assert child._value.get() == before + 1


def test_import_runs_are_counted_by_outcome(client, db):
    before = scrape(client)
    now = timezone.now()
    ImportRun.objects.create(
        format="sacct", sources="a.log", summary={"new": 5}, finished=now - timedelta(hours=1)
    )
    ImportRun.objects.create(format="sacct", sources="b.log", summary={"new": 2, "error": "x"})
    ImportRun.objects.create(format="sacct", sources="c.log")
    ImportRun.objects.create(format="sacct", sources="d.log", summary={"new": 1}, finished=now)
    after = scrape(client)
    runs = "allotment_usage_import_runs"
    for status, more in (("ok", 2), ("failed", 1), ("unfinished", 1)):
        grew = value(after, runs, format="sacct", status=status)
        assert grew == value(before, runs, format="sacct", status=status) + more, status
    imported = "allotment_usage_imported_records_total"
    assert value(after, imported, format="sacct") == value(before, imported, format="sacct") + 8
    last = value(after, "allotment_usage_last_import_timestamp_seconds", format="sacct")
    assert last == now.timestamp()


def test_quarantined_records_are_counted(client, db):
    before = scrape(client)
    QuarantinedRecord.objects.create(
        kind="job", machine_name="brecca", key="991", reason="unknown_person",
        detail="no person zed", source="x.log:3", record={},
    )  # fmt: skip
    held = "allotment_usage_quarantined_records"
    labels = {"kind": "job", "reason": "unknown_person"}
    assert value(scrape(client), held, **labels) == value(before, held, **labels) + 1


def test_the_agents_loops_are_reported_after_a_tick(client, example):
    slurm_machines("brecca")

    def unreachable(machine):
        raise RuntimeError("slurmdbd down")

    agent = slurm_agent(lambda machine: {}, unreachable)
    agent.tick()
    samples = scrape(client)
    sync = {"loop": "slurm.sync", "target": "brecca"}
    pull = {"loop": "slurm.pull", "target": "brecca"}
    assert value(samples, "allotment_agent_loop_healthy", **sync) == 1
    assert value(samples, "allotment_agent_loop_healthy", **pull) == 0
    assert value(samples, "allotment_agent_loop_consecutive_failures", **pull) == 1
    assert value(samples, "allotment_agent_loop_runs_total", **pull) == 1
    assert value(samples, "allotment_agent_loop_interval_seconds", **sync) == 900
    last_ok = value(samples, "allotment_agent_loop_last_success_timestamp_seconds", **sync)
    assert abs(last_ok - timezone.now().timestamp()) < 60
    assert value(samples, "allotment_agent_loop_last_success_timestamp_seconds", **pull) == 0
    assert value(samples, "allotment_agent_loop_leased", **sync) == 0
    assert value(samples, "allotment_agent_loop_lease_takeovers_total", **sync) == 0
    assert value(samples, "allotment_agent_live_agents") == 1  # it ticked: it is alive
    agent.shutdown()
    assert value(scrape(client), "allotment_agent_live_agents") == 0


def test_leases_held_and_taken_over_are_reported(client, example):
    now = timezone.now()
    LoopStatus.objects.create(
        loop="slurm.sync", target="brecca", interval=900, takeovers=2,
        lease_holder="h:1:ab", lease_expires=now + timedelta(seconds=60),
    )  # fmt: skip
    LoopStatus.objects.create(
        loop="slurm.sync", target="tango", interval=900,
        lease_holder="h:2:cd", lease_expires=now - timedelta(seconds=1),
    )  # fmt: skip
    samples = scrape(client)
    brecca = {"loop": "slurm.sync", "target": "brecca"}
    tango = {"loop": "slurm.sync", "target": "tango"}
    assert value(samples, "allotment_agent_loop_leased", **brecca) == 1
    assert value(samples, "allotment_agent_loop_leased", **tango) == 0  # expired: free
    assert value(samples, "allotment_agent_loop_lease_takeovers_total", **brecca) == 2


def test_a_database_outage_still_scrapes_with_the_ledger_down(client, db, monkeypatch):
    def down():
        raise DatabaseError("connection refused")

    assert value(scrape(client), "allotment_ledger_up") == 1
    monkeypatch.setattr(collectors, "quarantine", down)
    samples = scrape(client)
    assert value(samples, "allotment_ledger_up") == 0
    assert not any(name.startswith("allotment_usage_") for name, _ in samples)
    assert value(samples, "process_cpu_seconds_total") > 0


# --- who may read them ------------------------------------------------------------------


def test_a_remote_client_without_a_token_is_refused(client, db):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_a_proxied_request_is_not_loopback(client, db):
    forwarded = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forwarded.status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_the_metrics_token_lets_a_remote_scraper_in(client, db, settings):
    settings.ALLOTMENT_METRICS_TOKEN = "s3cret-token"
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token", **remote)
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-tokeN", **remote)
    assert wrong.status_code == 403
    basic = client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token", **remote)
    assert basic.status_code == 403


def test_an_empty_token_setting_lets_no_one_in_by_token(client, db, settings):
    settings.ALLOTMENT_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


def test_a_site_administrator_may_look_and_another_person_may_not(client, example):
    person = example.people["bob"]
    client.force_login(person)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    person.is_staff = True
    person.save(update_fields=["is_staff"])
    assert scrape(client, REMOTE_ADDR="203.0.113.9")


def test_a_post_is_not_a_scrape(client, db):
    assert client.post("/metrics").status_code == 405


# --- several worker processes -------------------------------------------------------------


def test_with_a_multiprocess_directory_every_workers_requests_are_added_up(tmp_path):
    """Two processes (gunicorn's workers) count one request each; a third's scrape sees 2."""
    worker = textwrap.dedent(
        """
        import django, sys
        django.setup()
        from allotment.ops.metrics import REQUESTS, exposition_registry
        from prometheus_client import generate_latest
        if sys.argv[1] == "count":
            REQUESTS.labels("GET", "/healthz", "200").inc()
        else:
            sys.stdout.write(generate_latest(exposition_registry()).decode())
        """
    )
    env = os.environ | {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "DJANGO_SETTINGS_MODULE": "allotment.settings",
        "ALLOTMENT_VAR_DIR": str(tmp_path / "var"),
    }
    (tmp_path / "prom").mkdir()

    def run(what: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", worker, what], env=env, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    run("count")
    run("count")
    text = run("scrape")
    line = 'allotment_http_requests_total{method="GET",route="/healthz",status="200"} 2.0'
    assert line in text
