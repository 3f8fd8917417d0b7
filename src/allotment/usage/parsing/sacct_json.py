"""Slurm's `sacct --json` (22.05 and later): {"jobs": [...]} with epoch times.

Array tasks become `<array job>_<task>` and heterogeneous components `<het job>+<offset>`,
as sacct's text output names them. Later Slurm versions wrap numbers as
{"set": true, "number": n}; both shapes are read.
"""

import json
from collections.abc import Iterator
from typing import IO, Any

from .common import JobRecord, ParseError, Running, Unchanged, base_state, fingerprint


def _num(value: Any) -> int | None:
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if value is None or value == "":
        return None
    return int(value)


def job_id_of(job: dict) -> str:
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
) -> Iterator[JobRecord | Running | Unchanged]:
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
    for index, job in enumerate(jobs, start=1):
        where = f"jobs[{index - 1}]"
        try:
            job_id = job_id_of(job)
            text = json.dumps(job, sort_keys=True, separators=(",", ":"))
            fp = fingerprint(text)
            if known.get(job_id) == fp:
                yield Unchanged(job_id)
                continue
            time = job.get("time") or {}
            start, end = _num(time.get("start")), _num(time.get("end"))
            if not start or not end:
                yield Running(job_id, index)
                continue
            elapsed = _num(time.get("elapsed"))
            state = job.get("state") or {}
            state = state.get("current") if isinstance(state, dict) else state
            if isinstance(state, list):
                state = state[0] if state else ""
            exit_code = job.get("exit_code") or {}
            rc = exit_code.get("return_code") if isinstance(exit_code, dict) else exit_code
            cpu_total = (time.get("total") or {}).get("seconds")
            cores = _tres(job, "cpu")
            if cores is None:
                cores = _num((job.get("required") or {}).get("CPUs")) or 0
            yield JobRecord(
                job_id,
                str(job.get("user") or ""),
                str(job.get("account") or ""),
                str(job.get("partition") or ""),
                _num(time.get("submission")),
                _num(time.get("eligible")),
                start,
                end,
                max(elapsed if elapsed is not None else end - start, 0),
                cores,
                _num(job.get("allocation_nodes")) or _tres(job, "node") or 0,
                _num(cpu_total),
                _megabytes(_tres(job, "mem")),
                base_state(str(state or "")),
                "" if rc is None else str(_num(rc)),
                job.get("cluster"),
                index,
                fp,
            )
        except (TypeError, ValueError, AttributeError) as e:
            raise ParseError(source, index, where, str(e), "a sacct --json job object") from None
