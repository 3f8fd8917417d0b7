"""The jobs a simulation replays, read from an SWF trace (the Parallel Workloads Archive's
format) into the shape the agent groups demand by: cores, memory, account and partition."""

from __future__ import annotations

import gzip
import math
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from allotment.usage.parsing.common import ParseError, parse_instant
from allotment.usage.parsing.swf import FIELDS, _is_number


@dataclass
class Trace:
    """Jobs of a trace in submit order, as parallel lists (a year is half a million)."""

    name: str
    epoch: int = 0
    zone: str = "UTC"
    submit: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    cores: list[int] = field(default_factory=list)
    memory_mb: list[int] = field(default_factory=list)
    account: list[str] = field(default_factory=list)
    partition: list[str] = field(default_factory=list)
    invalid: int = 0  # no submit time, or no processors known

    def __len__(self) -> int:
        return len(self.submit)


def read_swf(path: str | Path, start: str | None = None, end: str | None = None,
             speedup: float = 1.0) -> Trace:  # fmt: skip
    """The jobs of an SWF file (.gz or plain) submitted in [start, end) (ISO times in the
    trace's own time zone, or epochs). A job needs cores = its requested processors (else
    allocated) and memory = requested memory per processor times those cores; its account
    is its group (g<n>, else its user u<n>), its partition its queue (q<n>). `speedup`
    divides the time between arrivals (the load scaled up), not the jobs' run times."""
    source = str(path)
    trace = Trace(Path(source).name)
    try:
        rows = _rows(source, trace)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        # not gzip though named .gz, cut short, or not text at all
        raise ValueError(f"{source}: cannot be read as an SWF trace: {e}") from None
    lo = _bound(start, "--from", trace)
    hi = _bound(end, "--to", trace)
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"--from {start} is not before --to {end}: no job would be replayed")
    lo = -math.inf if lo is None else lo
    hi = math.inf if hi is None else hi
    rows = sorted(r for r in rows if lo <= r[0] < hi)
    first = rows[0][0] if rows else 0.0
    for submit, run, cores, memory, account, partition in rows:
        trace.submit.append(first + (submit - first) / speedup)
        trace.run.append(run)
        trace.cores.append(cores)
        trace.memory_mb.append(memory)
        trace.account.append(account)
        trace.partition.append(partition)
    return trace


def _bound(text: str | None, option: str, trace: Trace) -> float | None:
    """--from or --to as seconds after the trace's start, None when not given."""
    if not text:
        return None
    try:
        return parse_instant(text, trace.zone) - trace.epoch
    except ValueError:
        raise ValueError(
            f"{option}: expected an ISO time (2010-05-01 or 2010-05-01T12:00) or epoch "
            f"seconds, got {text!r}"
        ) from None


def _rows(source: str, trace: Trace) -> list[tuple]:
    """The trace's valid jobs, unsorted; its header's start and time zone set on `trace`."""
    opener = gzip.open if source.endswith(".gz") else open
    rows = []
    with opener(source, "rt") as lines:
        for number, line in enumerate(lines, start=1):
            if line.startswith(";"):
                _header(line, source, number, trace)
                continue
            f = line.split()
            if not f:
                continue
            if len(f) != 18:
                raise ParseError(source, number, "line", line.strip(), "18 numbers")
            try:
                submit, run = float(f[1]), float(f[3])
                alloc, requested, mem_kb = int(f[4]), int(f[7]), float(f[9])
                user, group, queue = int(f[11]), int(f[12]), int(f[14])
            except ValueError:
                bad = next(i for i, v in enumerate(f) if not _is_number(v))
                raise ParseError(source, number, FIELDS[bad], f[bad], "a number") from None
            cores = requested if requested > 0 else alloc
            if submit < 0 or cores <= 0:
                trace.invalid += 1
                continue
            account = f"g{group}" if group >= 0 else (f"u{user}" if user >= 0 else "unknown")
            memory = math.ceil(mem_kb * cores / 1024) if mem_kb > 0 else 0
            rows.append((submit, max(run, 0.0), cores, memory, account,
                         f"q{queue}" if queue >= 0 else "burst"))  # fmt: skip
    return rows


def _header(line: str, source: str, number: int, trace: Trace) -> None:
    key, _, value = line[1:].partition(":")
    key, value = key.strip(), value.strip()
    if key == "UnixStartTime":
        if not value.lstrip("-").isdigit():
            raise ParseError(source, number, key, value, "epoch seconds")
        trace.epoch = int(value)
    elif key == "TimeZoneString" and value:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ParseError(source, number, key, value, "a time zone name") from None
        trace.zone = value
