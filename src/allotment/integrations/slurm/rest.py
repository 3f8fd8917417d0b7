"""slurmrestd's v0.0.38 API, called as a person: submit, list, show and cancel their jobs.

Every call carries the person's Slurm user name and a token for that name alone, minted here,
server side, for a few minutes: by `scontrol token username=X` (as root or SlurmUser) or,
where a machine names its key file, signed with that key. The key never leaves this process
and no token outlives its call; slurmctld then runs the job as that user and checks every
cancel against that user, so a mistake above this module cannot act for someone else.

slurmrestd answers most failures with HTTP 500 and an `errors` array, a bad token included
(and, for reads, with the same body as "slurmctld is down"). `RestError` turns each into a
sentence naming the job, the user and the machine; the numbers are Slurm's own error codes
(shared/notes/slurmrestd-jwt.md §6). Stdlib only: urllib, hmac.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

API = "v0.0.38"
TOKEN_SECONDS = 300  # one call's worth, with room for a slow slurmctld (9 s retries)
TIMEOUT = 30.0

# Slurm's error numbers (slurm_errno.h) slurmrestd passes on.
ACCESS_DENIED = 2002
INVALID_JOB_ID = 2017
INVALID_PARTITION = 2000
INVALID_ACCOUNT = 2045
NO_CONTROLLER = 1800
ZERO_BYTES = 5005  # what a refused token looks like from submit and cancel
PROTOCOL_AUTH = 1007


class RestError(RuntimeError):
    """slurmrestd did not do what was asked; the message says what, for whom and where.

    `kind` sorts the failures for callers: "denied" (Slurm refused this user), "not_found"
    (no such job visible to this user), "refused" (a request Slurm will not take as it is:
    account, partition, input), "auth" (the token or its user was not accepted),
    "unreachable" (no answer from slurmrestd or slurmctld; worth retrying)."""

    def __init__(self, message: str, kind: str, status: int | None = None, code: int = 0):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.kind != "unreachable"


@dataclass(frozen=True)
class JobRequest:
    """What a person asks to run (bounded by allotment.jobs before it gets here)."""

    script: str
    account: str
    name: str = "allot-job"
    partition: str = ""
    cores: int = 1
    memory_mb: int = 0  # 0: the partition's default
    time_minutes: int = 60
    comment: str = ""  # "image=NAME" for burst (slurm.queue.requested reads it back)
    working_dir: str = "/tmp"
    environment: dict[str, str] = field(default_factory=dict)
    # Slurm's file name pattern (%j: the job id); empty: slurm-%j.out in working_dir
    standard_output: str = ""

    def body(self) -> dict:
        job: dict = {
            "name": self.name,
            "account": self.account,
            "time_limit": self.time_minutes,
            "tasks": 1,
            "cpus_per_task": self.cores,
            "current_working_directory": self.working_dir,
            "standard_output": self.standard_output or str(Path(self.working_dir) / "slurm-%j.out"),
            # v0.0.38 refuses a job without a non-empty environment object
            "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin", **self.environment},
        }
        if self.partition:
            job["partition"] = self.partition
        if self.memory_mb:
            job["memory_per_node"] = self.memory_mb
        if self.comment:
            job["comment"] = self.comment
        return {"script": self.script, "job": job}


@dataclass(frozen=True)
class JobView:
    """One job as slurmrestd shows it to its owner."""

    job_id: int
    name: str
    user: str
    account: str
    partition: str
    state: str
    reason: str
    cores: int
    time_limit_minutes: int | None
    submitted: int | None  # Unix seconds
    started: int | None
    ended: int | None
    exit_code: int | None
    # How often slurmctld requeued it: each requeue gives the job a new submit time.
    restarts: int | None = None

    @classmethod
    def parse(cls, raw: dict) -> JobView:
        def seconds(key: str) -> int | None:
            value = raw.get(key)
            return int(value) if isinstance(value, int) and value > 0 else None

        limit = raw.get("time_limit")
        return cls(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            user=str(raw.get("user_name") or ""),
            account=str(raw.get("account") or ""),
            partition=str(raw.get("partition") or ""),
            state=str(raw.get("job_state") or "UNKNOWN"),
            reason="" if raw.get("state_reason") in (None, "None") else str(raw["state_reason"]),
            cores=int(raw.get("cpus") or 0),
            time_limit_minutes=limit if isinstance(limit, int) and limit >= 0 else None,
            submitted=seconds("submit_time"),
            started=seconds("start_time"),
            ended=seconds("end_time"),
            exit_code=raw.get("exit_code") if isinstance(raw.get("exit_code"), int) else None,
            restarts=raw["restart_cnt"] if isinstance(raw.get("restart_cnt"), int) else None,
        )

    @classmethod
    def from_accounting(cls, raw: dict) -> JobView:
        """A job as slurmdbd's API (slurmdb/v0.0.38) records it: its state and times are
        nested ("state": {"current"}, "time": {"submission", "start", "end", "limit"})."""
        state = raw.get("state") or {}
        times = raw.get("time") or {}

        def stamp(key: str) -> int | None:
            value = times.get(key)
            return int(value) if isinstance(value, int) and value > 0 else None

        limit = times.get("limit")
        cpus = (raw.get("required") or {}).get("CPUs")
        code = (raw.get("exit_code") or {}).get("return_code")
        return cls(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            user=str(raw.get("user") or ""),
            account=str(raw.get("account") or ""),
            partition=str(raw.get("partition") or ""),
            state=str(state.get("current") or "UNKNOWN"),
            reason="" if state.get("reason") in (None, "None") else str(state["reason"]),
            cores=int(cpus or 0),
            time_limit_minutes=limit if isinstance(limit, int) and limit >= 0 else None,
            submitted=stamp("submission"),
            started=stamp("start"),
            ended=stamp("end"),
            exit_code=code if isinstance(code, int) else None,
        )


# --- tokens ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_from_key(key_file: Path, user: str, seconds: int = TOKEN_SECONDS) -> str:
    """An HS256 token for `user` signed with auth/jwt's key: the claims slurmctld reads
    (exp, iat, sun), as `scontrol token` writes them."""
    key = Path(key_file).read_bytes()
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"exp": now + seconds, "iat": now, "sun": user}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def token_from_scontrol(slurm_conf: str, user: str, seconds: int = TOKEN_SECONDS) -> str:
    """`scontrol token username=USER` as this process's user (root or SlurmUser may mint
    any user's token; others only their own)."""
    done = subprocess.run(
        ["scontrol", "token", f"username={user}", f"lifespan={seconds}"],
        env={**os.environ, "SLURM_CONF": slurm_conf}, capture_output=True, text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    out = done.stdout.strip()
    if done.returncode != 0 or not out.startswith("SLURM_JWT="):
        why = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise RestError(f"Could not mint a Slurm token for {user}: {why}", "auth")
    return out.removeprefix("SLURM_JWT=")


# --- the client --------------------------------------------------------------------------


class SlurmRest:
    """slurmrestd at `url` for one machine; each call names the Slurm user it acts as and
    gets a fresh token for exactly that user from `mint`."""

    def __init__(
        self,
        url: str,
        mint: Callable[[str], str],
        machine: str = "",
        timeout: float = TIMEOUT,
    ):
        self.url = url.rstrip("/")
        self.mint = mint
        self.machine = machine or self.url
        self.timeout = timeout

    @classmethod
    def for_options(cls, machine: str, options: dict) -> SlurmRest:
        """From a machine's engine options: `slurmrestd` (its URL), and either `jwt_key`
        (a key file this process may read) or `slurm_conf` (for `scontrol token`)."""
        url = options.get("slurmrestd")
        if not url:
            raise RestError(
                f"Machine {machine} takes no jobs through Allotment: its engine options name "
                "no slurmrestd URL.",
                "refused",
            )
        key = options.get("jwt_key")
        if key:
            return cls(url, lambda user: token_from_key(Path(key), user), machine)
        conf = options.get("slurm_conf") or "/etc/slurm/slurm.conf"
        return cls(url, lambda user: token_from_scontrol(conf, user), machine)

    # The four things a person does.

    def submit(self, user: str, job: JobRequest) -> int:
        answer = self._call("POST", "/job/submit", user, job.body(), doing="submit a job")
        job_id = answer.get("job_id")
        if not isinstance(job_id, int):
            raise RestError(
                f"slurmrestd on {self.machine} accepted {user}'s job but named no job id: "
                f"{json.dumps(answer)[:300]}",
                "unreachable",
            )
        return job_id

    def jobs(self, user: str) -> list[JobView]:
        """The jobs slurmctld still holds that `user` may see (with PrivateData=jobs, their
        own)."""
        answer = self._call("GET", "/jobs", user, doing="list jobs")
        return [JobView.parse(j) for j in answer.get("jobs") or []]

    def job(self, user: str, job_id: int) -> JobView:
        """The job as slurmctld shows it; once slurmctld has forgotten it (MinJobAge after
        it ended), as the accounting database (slurmdbd) recorded it."""
        try:
            answer = self._call("GET", f"/job/{int(job_id)}", user, doing=f"show job {job_id}")
            found = answer.get("jobs") or []
        except RestError as e:
            if e.kind != "not_found":
                raise
            found = []
        if found:
            return JobView.parse(found[0])
        try:
            answer = self._call("GET", f"/job/{int(job_id)}", user, doing=f"show job {job_id}",
                                base="slurmdb")  # fmt: skip
        except RestError as e:
            raise RestError(
                f"Job {job_id} on {self.machine} is not one {user} can see.", "not_found"
            ) from e
        found = answer.get("jobs") or []
        if not found:
            raise RestError(
                f"Job {job_id} on {self.machine} is not one {user} can see.", "not_found"
            )
        return JobView.from_accounting(found[0])

    def cancel(self, user: str, job_id: int) -> None:
        self._call("DELETE", f"/job/{int(job_id)}", user, doing=f"cancel job {job_id}")

    def ping(self, user: str) -> bool:
        answer = self._call("GET", "/ping", user, doing="ping")
        return any(p.get("ping") == "UP" for p in answer.get("pings") or [])

    # HTTP

    def _call(
        self, method: str, path: str, user: str, body: dict | None = None, *, doing: str,
        base: str = "slurm",
    ):  # fmt: skip
        token = self.mint(user)
        request = urllib.request.Request(
            f"{self.url}/{base}/{API}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "X-SLURM-USER-NAME": user,
                "X-SLURM-USER-TOKEN": token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RestError(
                f"slurmrestd of {self.machine} at {self.url} did not answer ({reason}); "
                f"could not {doing} for {user}.",
                "unreachable",
            ) from None
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"text": raw.decode(errors="replace").strip()}
        if not isinstance(answer, dict):
            answer = {"text": str(answer)}
        errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        if status == 200 and not errors:
            return answer
        if status == 200 and method == "POST" and isinstance(answer.get("job_id"), int):
            # Submitted: slurmrestd 22.05 reports the job's first pending reason (e.g.
            # "Required node not available" in a partition of FUTURE burst nodes) as an
            # error beside the job id; sbatch shows none. The job exists: never call it a
            # failure, or the person is told "no" about a job that will run.
            return answer
        raise explain(status, answer, errors, user=user, doing=doing, machine=self.machine)


def _code(error: dict) -> int:
    for key in ("error_number", "error_code"):
        value = error.get(key)
        if isinstance(value, int) and value:
            return value
    return 0


def _said(error: dict) -> str:
    return str(error.get("description") or error.get("error") or "").strip()


def explain(
    status: int, answer: dict, errors: list[dict], *, user: str, doing: str, machine: str
) -> RestError:
    """One sentence for what slurmrestd answered (see the module docstring)."""
    main = next((e for e in errors if _code(e) and _code(e) != 9001), errors[0] if errors else {})
    code, said = _code(main), _said(main)
    where = f"on {machine}"
    if status == 401:
        return RestError(
            f"slurmrestd {where} refused the request's authentication for {user} "
            f"({answer.get('text') or 'Authentication failure'}).",
            "auth", status, code,
        )  # fmt: skip
    if code == ACCESS_DENIED:
        return RestError(
            f"Slurm {where} refused to let {user} {doing}: permission denied (only the job's "
            "owner or an operator may).",
            "denied", status, code,
        )  # fmt: skip
    if code == INVALID_JOB_ID:
        return RestError(
            f"Slurm {where} has no such job that {user} can see (could not {doing}).",
            "not_found", status, code,
        )  # fmt: skip
    if code == INVALID_ACCOUNT:
        return RestError(
            f"Slurm {where} refused {user}'s job: {user} may not charge that account "
            "(no association yet: the ledger's accounts reach Slurm at the next sync).",
            "refused", status, code,
        )  # fmt: skip
    if code == INVALID_PARTITION:
        return RestError(
            f"Slurm {where} refused {user}'s job: no such partition.", "refused", status, code
        )
    if code == NO_CONTROLLER:
        return RestError(
            f"slurmctld {where} did not answer slurmrestd; could not {doing} for {user}.",
            "unreachable", status, code,
        )  # fmt: skip
    if code in (ZERO_BYTES, PROTOCOL_AUTH) or (status == 500 and code == -1):
        # The same answer for a token slurmctld refused and for slurmctld not answering.
        return RestError(
            f"Slurm {where} did not accept the token for {user}, or slurmctld is not "
            f"answering; could not {doing} ({said or 'no detail'}).",
            "auth" if status < 500 or code in (ZERO_BYTES, PROTOCOL_AUTH) else "unreachable",
            status, code,
        )  # fmt: skip
    if status == 400:
        detail = "; ".join(_said(e) for e in errors if _said(e)) or answer.get("text") or ""
        return RestError(
            f"slurmrestd {where} refused the request to {doing} for {user}: {detail}",
            "refused", status, code,
        )  # fmt: skip
    return RestError(
        f"slurmrestd {where} could not {doing} for {user}: HTTP {status}, "
        f"{said or json.dumps(answer)[:300]}" + (f" (Slurm error {code})" if code else ""),
        "refused" if status < 500 else "unreachable", status, code,
    )  # fmt: skip
