"""Allotment's own job format, for any scheduler we do not read natively.

CSV with a header, or a JSON list of objects, with these fields (names as given):

| field | required | meaning |
| --- | --- | --- |
| job_id | yes | unique per machine and submit time |
| user | yes | username (an account on the machine, or a person's username) |
| account | no | project id; empty means no project (kept as unallocated) |
| start, end | yes | ISO 8601 (with an offset, or in the machine's zone) or epoch seconds |
| cores | yes | cores allocated |
| submit, eligible | no | as start |
| elapsed | no | seconds charged; default end - start |
| nodes, cpu_time, memory | no | whole numbers (seconds, bytes) |
| partition, state, exit_code | no | text |

A job with an empty end is still running and is skipped; one with an end but no start
never ran (cancelled while waiting): no job, no usage. Without a submit time a job id is
taken as unique on its machine; with one, a job id reused later is a job of its own.
"""

import csv
import json
from collections.abc import Iterator
from typing import IO

from .common import (
    JobRecord,
    NeverRan,
    ParseError,
    Running,
    Unchanged,
    fingerprint,
    parse_instant,
)

REQUIRED = ("job_id", "user", "start", "end", "cores")


def _rows_csv(stream: IO[str], source: str):
    reader = csv.DictReader(stream)
    missing = [f for f in REQUIRED if f not in (reader.fieldnames or [])]
    if missing:
        raise ParseError(
            source, 1, "header", ",".join(reader.fieldnames or []), "columns " + ", ".join(missing)
        )
    width = len(reader.fieldnames)
    for row in reader:
        if None in row or None in row.values():
            found = width + len(row.get(None, [])) - sum(v is None for v in row.values())
            raise ParseError(
                source,
                reader.line_num,
                "line",
                f"{found} fields",
                f"{width} comma-separated fields",
            )
        yield reader.line_num, row


def _rows_json(stream: IO[str], source: str):
    try:
        rows = json.load(stream)
    except json.JSONDecodeError as e:
        raise ParseError(
            source, e.lineno, "document", e.msg, "a JSON list of job objects"
        ) from None
    if not isinstance(rows, list):
        raise ParseError(source, 1, "document", type(rows).__name__, "a JSON list of job objects")
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ParseError(source, index, f"[{index - 1}]", str(row), "a job object")
        missing = [f for f in REQUIRED if f not in row]
        if missing:
            raise ParseError(source, index, missing[0], "", "a value (required field)")
        yield index, {k: "" if v is None else str(v) for k, v in row.items()}


def parse(
    stream: IO[str],
    source: str,
    zone: str,
    known: dict[str, int] | None = None,
    *,
    json_input: bool,
) -> Iterator[JobRecord | Running | NeverRan | Unchanged]:
    known = known or {}
    rows = _rows_json(stream, source) if json_input else _rows_csv(stream, source)
    for number, row in rows:
        job_id = row["job_id"].strip()
        if not job_id:
            raise ParseError(source, number, "job_id", "", "a job id")
        fp = fingerprint(zone + json.dumps(row, sort_keys=True))
        if known.get(job_id) == fp:
            yield Unchanged(job_id)
            continue
        if not row["end"].strip():
            yield Running(job_id, number)
            continue
        if not row["start"].strip():
            yield NeverRan(job_id, number)
            continue
        values = {}
        for name, kind in (
            ("start", "time"), ("end", "time"), ("submit", "time"), ("eligible", "time"),
            ("cores", "int"), ("nodes", "int"), ("elapsed", "int"), ("cpu_time", "int"),
            ("memory", "int"),
        ):  # fmt: skip
            text = (row.get(name) or "").strip()
            if not text:
                values[name] = None
                continue
            try:
                values[name] = parse_instant(text, zone) if kind == "time" else int(float(text))
            except ValueError:
                expected = (
                    "an ISO 8601 time or epoch seconds" if kind == "time" else "a whole number"
                )
                raise ParseError(source, number, name, text, expected) from None
        start, end = values["start"], values["end"]
        elapsed = values["elapsed"] if values["elapsed"] is not None else end - start
        yield JobRecord(
            job_id,
            row["user"].strip(),
            (row.get("account") or "").strip(),
            (row.get("partition") or "").strip(),
            values["submit"],
            values["eligible"],
            start,
            end,
            max(elapsed, 0),
            values["cores"] or 0,
            values["nodes"] or 0,
            values["cpu_time"],
            values["memory"],
            (row.get("state") or "").strip().upper(),
            (row.get("exit_code") or "").strip(),
            (row.get("machine") or "").strip() or None,
            number,
            fp,
        )
