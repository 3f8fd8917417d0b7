"""Pulling finished jobs from a Slurm cluster into the usage ledger.

`sacct --json` is asked for jobs that ended since the machine's watermark, minus an
overlap: sacct's time-window queries lag a few seconds behind a job's end, so every pull
reads the last hour again. Re-read jobs are recognised by their fingerprints and change
nothing, so no job is ever counted twice and a late record is caught by the next pull.
The watermark is the end of the window of the latest successful pull (its ImportRun).
"""

import subprocess
import tempfile
import time
import zoneinfo
from datetime import datetime
from pathlib import Path

from allotment.usage import ingest
from allotment.usage.models import ImportRun

from .sacctmgr import Cluster, SlurmError

FORMAT = "sacct-json"
OVERLAP = 3600
STATES = "CD,CA,F,TO,NF,OOM,PR,DL,BF"


def watermark(machine) -> int | None:
    for run in ImportRun.objects.filter(
        format=FORMAT, machine_name=machine.name, finished__isnull=False
    ).order_by("-started")[:20]:
        until = (run.summary or {}).get("until")
        if until:
            return int(until)
    return None


def _local(ts: int, zone: str) -> str:
    return datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")


def pull(machine, since: str | None = None, now: int | None = None) -> dict:
    cluster = Cluster.of(machine)
    now = now or int(time.time())
    if since:
        start = since
    else:
        mark = watermark(machine)
        start = _local(mark - OVERLAP, machine.time_zone) if mark else "1970-01-02T00:00:00"
    end = _local(now, machine.time_zone)
    try:
        out = cluster.run(
            "sacct", "--json", "--allusers", f"--clusters={cluster.name}",
            f"--starttime={start}", f"--endtime={end}", f"--state={STATES}",
        )  # fmt: skip
    except (SlurmError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"reading usage from {cluster.name}: {e}") from e
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(out)
    try:
        options = ingest.Options(format=FORMAT, machine=machine.name)
        summary = ingest.import_files([Path(f.name)], options)
    finally:
        Path(f.name).unlink(missing_ok=True)
    run = ImportRun.objects.filter(format=FORMAT, machine_name=machine.name).latest("started")
    run.sources = f"sacct --json {start} .. {end} on {cluster.name}"
    run.summary = summary.as_dict() | {"until": now}
    run.save(update_fields=["sources", "summary"])
    return run.summary
