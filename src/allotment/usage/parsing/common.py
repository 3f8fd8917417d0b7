"""What every importer produces, and the small parsers they share.

Importers turn a source (sacct text, sacct JSON, SWF, HTCondor, CSV) into JobRecords. A
record that cannot be read stops the import with a ParseError naming file:line, the field
and what was expected; nothing is written then.
"""

import re
import zlib
import zoneinfo
from datetime import UTC, datetime
from typing import NamedTuple


class ParseError(ValueError):
    """Malformed input: where it is, which field, what was expected."""

    def __init__(self, source: str, line: int, field: str, value: str, expected: str):
        self.source, self.line, self.field = source, line, field
        self.value, self.expected = value, expected
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(f'{source}:{line}: field {field}: expected {expected}, got "{shown}"')

    def __reduce__(self):
        return (ParseError, (self.source, self.line, self.field, self.value, self.expected))


class JobRecord(NamedTuple):
    job_id: str
    user: str
    account: str
    partition: str
    submit: int | None
    eligible: int | None
    start: int
    end: int
    elapsed: int
    cores: int
    nodes: int
    cpu_time: int | None
    memory: int | None
    state: str
    exit_code: str
    cluster: str | None
    line: int
    fingerprint: int


class Running(NamedTuple):
    """A job that has not ended yet: skipped now, picked up by a later import."""

    job_id: str
    line: int


class NeverRan(NamedTuple):
    """A job that ended without ever starting (cancelled or failed while pending): no job
    and no usage, and nothing left to wait for."""

    job_id: str
    line: int


class Invalid(NamedTuple):
    """A well-formed source holding a record that cannot be used (a field missing or of the
    wrong type, no submit time): quarantined with why, the rest of the file is imported.
    A plain tuple, so it crosses from the parsing child process like any record. `line` is
    the record's place in its file: a line number, or `jobs[3]` in a JSON list."""

    job_id: str
    line: int | str
    detail: str
    record: dict


class Unchanged(NamedTuple):
    """A record identical to one already stored (same job id, same fingerprint).

    Importers are handed `known`, job id → the fingerprint of a stored record of that id:
    a record whose fingerprint matches is skipped before it is parsed. Any other record
    goes to the writer, which tells a new job from an update of a stored one by (job id,
    submit time), as a job id may name several jobs."""

    job_id: str


def fingerprint(text: str) -> int:
    """A stable 63-bit hash of a source record, to recognise it again cheaply: two
    independent 32-bit checksums (CRC-32 and Adler-32), both computed in C."""
    data = text.encode()
    return (zlib.crc32(data) << 31) ^ zlib.adler32(data)


def is_step(job_id: str) -> bool:
    """Slurm job steps (123.batch, 123.extern, 123.0, 123_4.0, heterogeneous 123.0+0) are
    parts of a job, not jobs: in sacct's job ids only steps have a dot. Array tasks (123_4)
    and heterogeneous components (123+0) are jobs of their own."""
    return "." in job_id


_ELAPSED_RE = re.compile(r"\A(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.(\d+))?\Z")


def parse_elapsed(text: str) -> int:
    """Seconds from Slurm's D-HH:MM:SS, HH:MM:SS or MM:SS.mmm (fractions dropped)."""
    if len(text) == 8 and text[2] == ":" and text[5] == ":":  # HH:MM:SS, the common case
        return int(text[:2]) * 3600 + int(text[3:5]) * 60 + int(text[6:])
    m = _ELAPSED_RE.match(text)
    if m is None:
        raise ValueError(text)
    days, hours, minutes, seconds, _ = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


_SIZE_RE = re.compile(r"\A([\d.]+)([KMGTP]?)[nc]?\Z", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_size(text: str) -> int | None:
    """Bytes from Slurm's sizes (1234K, 2.5G, 4000Mc); None when empty."""
    if not text or text in ("0", "0n", "0c"):
        return None if not text else 0
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(text)
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def base_state(text: str) -> str:
    """COMPLETED from 'COMPLETED', CANCELLED from 'CANCELLED by 0'."""
    return text.split(" ", 1)[0].upper()


class LocalTimes:
    """Parses the local times a machine's tools print (2010-05-01T12:34:56) to epoch seconds.

    The offset is looked up once per local hour and cached: a file of a million jobs has a
    few thousand distinct hours. In the repeated hour when clocks go back, the first
    occurrence is taken (fold=0), as Slurm does not say which.
    """

    def __init__(self, zone: str):
        self.zone = zoneinfo.ZoneInfo(zone)
        self.hours: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        base = self.hours.get(text[:13])
        if base is None:
            if len(text) < 13 or text[10] != "T":
                raise ValueError(text)
            start = datetime.fromisoformat(text[:13] + ":00:00").replace(tzinfo=self.zone)
            end = datetime.fromisoformat(text[:13] + ":59:59").replace(tzinfo=self.zone)
            if start.utcoffset() == end.utcoffset():
                base = self.hours[text[:13]] = int(start.timestamp())
            else:  # a clock change inside this hour (half-hour zones, odd switch times)
                self.hours[text[:13]] = -1
                base = -1
        if len(text) != 19 or text[16] != ":" or text[13] != ":":
            raise ValueError(text)
        if base == -1:
            return int(datetime.fromisoformat(text).replace(tzinfo=self.zone).timestamp())
        return base + int(text[14:16]) * 60 + int(text[17:19])


def parse_instant(text: str, zone: str = "UTC") -> int:
    """Epoch seconds from an ISO 8601 time (with or without offset) or an epoch number."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(zone) if zone != "UTC" else UTC)
    return int(value.timestamp())
