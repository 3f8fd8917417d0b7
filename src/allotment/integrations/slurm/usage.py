"""Pulling finished jobs from a Slurm cluster into the usage ledger.

`sacct --json` is asked for jobs that ended since the machine's watermark, minus an
overlap: sacct's time-window queries lag a few seconds behind a job's end, so every pull
reads the last hour again. Re-read jobs are recognised by their fingerprints and change
nothing, so no job is ever counted twice and a late record is caught by the next pull.
The watermark is the end of the window of the latest successful pull (its ImportRun).

sacct is asked for every record (`--duplicates`): without it, of several records of one
job id in a window only the latest is shown, so a reused id would hide the older job, and
a requeued job would show only its last run. Each record is a job of the ledger, keyed by
(job id, submit time) as slurmdbd keys it, so re-reading the window finds each again and a
second job of a reused id is new. REQUEUED records (a run ended by a requeue, preemption or
node failure) are read as well: Slurm charges their time to the association's usage (its
GrpTRESMins), and the ledger charges it too, once per run. Jobs that ended before they
started (cancelled while pending) are counted as never_ran: no job, no usage.
"""

import tempfile
import time
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

from allotment.usage import ingest
from allotment.usage.models import ImportRun

from .sacctmgr import Cluster, SlurmError

FORMAT = "sacct-json"
OVERLAP = 3600
WINDOW = 7 * 86400  # one sacct query per week of history: slurmdbd may cap a query's range
STATES = "CD,CA,F,TO,NF,OOM,PR,DL,BF,RQ"


def watermark(machine) -> int | None:
    run = (
        ImportRun.objects.filter(format=FORMAT, machine_name=machine.name, finished__isnull=False)
        .filter(summary__has_key="until")
        .order_by("-started")
        .first()
    )
    until = (run.summary or {}).get("until") if run else None
    return int(until) if until else None


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def pull(machine, since: str | None = None, now: int | None = None) -> dict:
    """Import jobs that ended since the watermark (or `since`), a week of history at a time,
    moving the watermark after each week. Times are given to sacct in UTC (TZ=UTC)."""
    cluster = Cluster.of(machine)
    now = now or int(time.time())
    if since:
        start = int(datetime.fromisoformat(since).replace(
            tzinfo=zoneinfo.ZoneInfo(machine.time_zone)).timestamp())  # fmt: skip
    else:
        mark = watermark(machine)
        first = datetime.combine(machine.start_date, datetime.min.time(), UTC).timestamp()
        start = mark - OVERLAP if mark else min(int(first), now - OVERLAP)
    total: dict = dict.fromkeys(ingest.COUNTS, 0) | {"windows": 0}
    while start < now:
        end = min(start + WINDOW, now)
        try:
            out = cluster.run(
                "sacct", "--json", "--duplicates", "--allusers", f"--clusters={cluster.name}",
                f"--starttime={_utc(start)}", f"--endtime={_utc(end)}", f"--state={STATES}",
                env={"TZ": "UTC"},
            )  # fmt: skip
        except SlurmError as e:
            raise SlurmError(f"reading usage from {cluster.name}: {e}") from None
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(out)
        try:
            summary = ingest.import_files(
                [Path(f.name)],
                ingest.Options(format=FORMAT, machine=machine.name),
                sources=f"sacct --json {_utc(start)} .. {_utc(end)} UTC on {cluster.name}",
                extra_summary={"until": end},
            ).as_dict()
        finally:
            Path(f.name).unlink(missing_ok=True)
        for key in total:
            total[key] += summary.get(key, 0) if key != "windows" else 1
        start = end
    total["until"] = now
    return total
