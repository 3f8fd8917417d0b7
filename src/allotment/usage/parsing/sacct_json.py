"""Slurm's `sacct --json` (22.05 and later): {"jobs": [...]} with epoch times.

Array tasks become `<array job>_<task>` and heterogeneous components `<het job>+<offset>`,
as sacct's text output names them. Later Slurm versions wrap numbers as
{"set": true, "number": n}; both shapes are read.

A job is still running while its end is 0, and never ran when it ended with a start of 0
or null, or with nothing allocated in no time (a job cancelled while pending: Slurm 22.05
prints start null for one held by a limit, start = end for one waiting on --begin):
neither is usage. A job object without a job id or the times
(start, end, submission), or with a value of the wrong type, is rejected: quarantined as
invalid with its place (`jobs[3]`) and the field, while the rest of the document imports.
The submission time is part of a job's key (Slurm's job ids are reused; each run of a
requeued job is a record of its own, shown by `sacct --duplicates`).
"""

import json
from collections.abc import Iterator
from typing import IO, Any

from .common import (
    Invalid,
    JobRecord,
    NeverRan,
    ParseError,
    Running,
    Unchanged,
    base_state,
    fingerprint,
)


def _num(value: Any) -> int | None:
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if value is None or value == "":
        return None
    return int(value)


class Malformed(ValueError):
    """One field of a job object is missing or not of its type."""

    def __init__(self, field: str, expected: str, value: Any):
        self.field, self.expected = field, expected
        shown = "missing" if value is _MISSING else json.dumps(value, default=str)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"field {field}: expected {expected}, got {shown}")


_MISSING = object()


def _at(job: dict, path: str, expected: str, *, required: bool = True) -> int | None:
    """The number at `time.start` etc.; Malformed if a required one is absent or any is
    not a number."""
    value: Any = job
    for part in path.split("."):
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            if required:
                raise Malformed(path, expected, _MISSING)
            return None
    try:
        return _num(value)
    except (TypeError, ValueError):
        raise Malformed(path, expected, value) from None


def job_id_of(job: dict) -> str:
    if not isinstance(job.get("job_id"), int | dict) or not _at(job, "job_id", "a job id"):
        raise Malformed("job_id", "a job id (a positive number)", job.get("job_id", _MISSING))
    array, het = job.get("array") or {}, job.get("het") or {}
    task = _num(array.get("task_id"))
    if task is not None and _num(array.get("job_id")):
        return f"{_num(array['job_id'])}_{task}"
    offset = _num(het.get("job_offset"))
    if offset is not None and _num(het.get("job_id")):
        return f"{_num(het['job_id'])}+{offset}"
    return str(_num(job.get("job_id")))


def _tres(job: dict, kind: str) -> int | None:
    for tres in (job.get("tres") or {}).get("allocated") or []:
        if tres.get("type") == kind:
            return _num(tres.get("count"))
    return None


def _megabytes(value: int | None) -> int | None:
    return None if value is None else value * 1024 * 1024


def parse(
    stream: IO[str], source: str, known: dict[str, int] | None = None
) -> Iterator[JobRecord | Running | NeverRan | Unchanged | Invalid]:
    known = known or {}
    try:
        document = json.load(stream)
    except json.JSONDecodeError as e:
        raise ParseError(source, e.lineno, "document", e.msg, "sacct --json output") from None
    jobs = document.get("jobs") if isinstance(document, dict) else None
    if not isinstance(jobs, list):
        raise ParseError(
            source, 1, "jobs", str(type(jobs).__name__), 'an object with a "jobs" list'
        )
    for index, job in enumerate(jobs):
        where = f"jobs[{index}]"
        job_id, field = where, "job"
        try:
            if not isinstance(job, dict):
                raise Malformed("job", "a job object", job)
            field = "array"
            job_id = job_id_of(job)
            field = "job"
            text = json.dumps(job, sort_keys=True, separators=(",", ":"))
            fp = fingerprint(text)
            if known.get(job_id) == fp:
                yield Unchanged(job_id)
                continue
            start = _at(job, "time.start", "epoch seconds (0 before it starts)")
            end = _at(job, "time.end", "epoch seconds (0 until it ends)")
            submit = _at(job, "time.submission", "epoch seconds")
            if not end:
                yield Running(job_id, index + 1)
                continue
            elapsed = _at(job, "time.elapsed", "seconds", required=False)
            field = "tres.allocated"
            cores = _tres(job, "cpu")
            field = "allocation_nodes"
            allocated = _num(job.get("allocation_nodes"))
            if not start or (not elapsed and start == end and not cores and not allocated):
                yield NeverRan(job_id, index + 1)
                continue
            if not submit:
                raise Malformed("time.submission", "epoch seconds", job["time"]["submission"])
            eligible = _at(job, "time.eligible", "epoch seconds", required=False)
            cpu_total = _at(job, "time.total.seconds", "seconds", required=False)
            field = "state"
            state = job.get("state") or {}
            state = state.get("current") if isinstance(state, dict) else state
            if isinstance(state, list):
                state = state[0] if state else ""
            field = "exit_code"
            exit_code = job.get("exit_code") or {}
            rc = exit_code.get("return_code") if isinstance(exit_code, dict) else exit_code
            rc = "" if rc is None else str(_num(rc))
            if cores is None:
                field = "required.CPUs"
                cores = _num((job.get("required") or {}).get("CPUs")) or 0
            field = "tres.allocated"
            nodes = allocated or _tres(job, "node") or 0
            memory = _megabytes(_tres(job, "mem"))
        except Malformed as e:
            yield Invalid(job_id, where, str(e), {"index": index, "job": job})
            continue
        except (TypeError, ValueError, AttributeError) as e:
            error = Malformed(field, "a value of sacct --json's shape", str(e))
            yield Invalid(job_id, where, str(error), {"index": index, "job": job})
            continue
        yield JobRecord(
            job_id,
            str(job.get("user") or ""),
            str(job.get("account") or ""),
            str(job.get("partition") or ""),
            submit,
            eligible,
            start,
            end,
            max(elapsed if elapsed is not None else end - start, 0),
            cores,
            nodes,
            cpu_total,
            memory,
            base_state(str(state or "")),
            rc,
            job.get("cluster"),
            index + 1,
            fp,
        )
