"""Two answers of slurmrestd 22.05 (measured on the loopback Slurm) that must not be read
as they look: a submit that returns a job id beside an "error" (the job's first pending
reason, e.g. in a partition of FUTURE burst nodes) succeeded; a job slurmctld has forgotten
(MinJobAge after it ended) is read from the accounting API instead."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from allotment.integrations.slurm import rest

ACCOUNTING = {
    "job_id": 6773, "name": "run.sh", "user": "alice", "account": "projecta",
    "partition": "burst", "state": {"current": "COMPLETED", "reason": "ReqNodeNotAvail"},
    "time": {"submission": 1796433671, "start": 1796433687, "end": 1796433692, "limit": 60},
    "required": {"CPUs": 1, "memory": 0}, "exit_code": {"status": "SUCCESS", "return_code": 0},
}  # fmt: skip


class Answers(BaseHTTPRequestHandler):
    routes: dict = {}

    def _answer(self):
        status, body = self.routes.get((self.command, self.path), (404, {"text": "no"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def slurmrestd():
    server = HTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, rest.SlurmRest(f"http://127.0.0.1:{server.server_port}", lambda user: "t",
                                 "brecca")  # fmt: skip
    server.shutdown()


def test_a_submit_with_a_job_id_and_a_pending_reason_as_error_succeeded(slurmrestd):
    _, client = slurmrestd
    Answers.routes = {("POST", "/slurm/v0.0.38/job/submit"): (200, {
        "job_id": 6773, "step_id": "BATCH", "job_submit_user_msg": "",
        "errors": [{"error_number": 2068,
                    "error": "Required node not available (down, drained or reserved)"}],
    })}  # fmt: skip
    job = rest.JobRequest(script="#!/bin/sh\ntrue\n", account="projecta", partition="burst")
    assert client.submit("alice", job) == 6773


def test_a_submit_refused_without_a_job_id_is_an_error(slurmrestd):
    _, client = slurmrestd
    Answers.routes = {("POST", "/slurm/v0.0.38/job/submit"): (500, {
        "errors": [{"error_code": 2000, "error": "Invalid partition name specified"}],
    })}  # fmt: skip
    with pytest.raises(rest.RestError, match="no such partition"):
        client.submit("alice", rest.JobRequest(script="#!/bin/sh\n", account="projecta"))


def test_a_job_slurmctld_forgot_is_read_from_accounting(slurmrestd):
    _, client = slurmrestd
    Answers.routes = {
        ("GET", "/slurm/v0.0.38/job/6773"): (500, {
            "errors": [{"error_number": 2017, "description": "Unable to find JobId=6773"}]}),
        ("GET", "/slurmdb/v0.0.38/job/6773"): (200, {"jobs": [ACCOUNTING], "errors": []}),
    }  # fmt: skip
    view = client.job("alice", 6773)
    assert (view.state, view.user, view.cores, view.started, view.ended, view.exit_code) == (
        "COMPLETED",
        "alice",
        1,
        1796433687,
        1796433692,
        0,
    )
    assert view.reason == "ReqNodeNotAvail" and view.time_limit_minutes == 60


def test_a_job_neither_knows_is_not_found(slurmrestd):
    _, client = slurmrestd
    Answers.routes = {
        ("GET", "/slurm/v0.0.38/job/5"): (
            500,
            {"errors": [{"error_number": 2017, "description": "Unable to find JobId=5"}]},
        )
    }
    with pytest.raises(rest.RestError) as error:
        client.job("alice", 5)
    assert error.value.kind == "not_found"
