"""Storage snapshots as CSV: timestamp, filesystem, project, person, bytes.

`filesystem` names a storage resource (a Resource in a pool measuring bytes); `person`
may be empty for a project-wide quota; `timestamp` is ISO 8601 or epoch seconds.
"""

import csv
from collections.abc import Iterator
from typing import IO, NamedTuple

from .common import ParseError, fingerprint, parse_instant

COLUMNS = ("timestamp", "filesystem", "project", "person", "bytes")


class Snapshot(NamedTuple):
    timestamp: int
    filesystem: str
    project: str
    person: str
    bytes: int
    line: int
    fingerprint: int


def parse(stream: IO[str], source: str, zone: str) -> Iterator[Snapshot]:
    reader = csv.DictReader(stream)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ParseError(
            source, 1, "header", ",".join(reader.fieldnames or []), "columns " + ", ".join(COLUMNS)
        )
    width = len(reader.fieldnames)
    for row in reader:
        number = reader.line_num
        if None in row or None in row.values():
            found = width + len(row.get(None, [])) - sum(v is None for v in row.values())
            raise ParseError(
                source, number, "line", f"{found} fields", f"{width} comma-separated fields"
            )
        try:
            when = parse_instant(row["timestamp"], zone)
        except ValueError:
            raise ParseError(
                source, number, "timestamp", row["timestamp"], "an ISO 8601 time or epoch seconds"
            ) from None
        try:
            size = int(row["bytes"])
            if size < 0:
                raise ValueError
        except ValueError:
            raise ParseError(
                source, number, "bytes", row["bytes"], "a whole number of bytes ≥ 0"
            ) from None
        if not row["filesystem"].strip():
            raise ParseError(source, number, "filesystem", "", "a storage resource name")
        yield Snapshot(
            when,
            row["filesystem"].strip(),
            row["project"].strip(),
            (row["person"] or "").strip(),
            size,
            number,
            fingerprint(",".join(row[c] or "" for c in COLUMNS)),
        )
