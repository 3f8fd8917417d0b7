"""Slurm's `sacct --parsable2` text: a header line, then one '|'-separated line per job.

We ask sites to run (the column order does not matter; names are case-insensitive):

    sacct --allusers --duplicates --parsable2 --starttime ... --endtime ... \
          --state=CD,CA,F,TO,NF,OOM,PR,DL,RQ \
          --format=JobID,Cluster,User,Account,Partition,Submit,Eligible,Start,End,Elapsed,\
AllocCPUS,NNodes,NodeList,TotalCPU,MaxRSS,ReqMem,State,ExitCode

Required: JobID, User, Account, Start, End and AllocCPUS (or NCPUS). Times are the
machine's local time. Steps (123.batch, 123.0) are not jobs and are skipped; jobs still
running (End Unknown) are skipped and picked up by a later import; a job that ended without
starting (cancelled while pending: Start None, or NodeList "None assigned" when that column
is given) is no job and no usage.

Submit is what tells two jobs of one id apart (Slurm reuses ids, and a requeued job's runs
are records of their own, each with its own submit time: `sacct --duplicates` shows them
all, without it only the latest): without that column, a job id is taken as unique.
"""

from collections.abc import Iterable, Iterator

from .common import (
    JobRecord,
    LocalTimes,
    NeverRan,
    ParseError,
    Running,
    Unchanged,
    base_state,
    fingerprint,
    is_step,
    parse_elapsed,
    parse_size,
)

REQUIRED = ("jobid", "user", "account", "start", "end")
NOT_ENDED = {"Unknown", "None", ""}
NO_NODES = "None assigned"  # NodeList of a job cancelled while pending


def parse(
    lines: Iterable[str], source: str, zone: str, known: dict[str, int] | None = None
) -> Iterator[JobRecord | Running | NeverRan | Unchanged]:
    known = known or {}
    lines = iter(lines)
    header = next(lines, "").rstrip("\r\n")
    columns = [c.strip().lower() for c in header.split("|")]
    col = {name: i for i, name in enumerate(columns) if name}
    missing = [c for c in REQUIRED if c not in col]
    cpu_col = col.get("alloccpus", col.get("ncpus"))
    if cpu_col is None:
        missing.append("AllocCPUS or NCPUS")
    if missing:
        raise ParseError(
            source, 1, "header", header, "a sacct --parsable2 header with " + ", ".join(missing)
        )
    width = len(columns)
    i_job, i_user, i_acct = col["jobid"], col["user"], col["account"]
    i_start, i_end = col["start"], col["end"]
    i_part = col.get("partition")
    i_submit, i_elig = col.get("submit"), col.get("eligible")
    i_elapsed, i_elapsed_raw = col.get("elapsed"), col.get("elapsedraw")
    i_nodes = col.get("nnodes", col.get("allocnodes"))
    i_cpu = col.get("totalcpu")
    i_mem = col.get("maxrss", col.get("reqmem"))
    i_state, i_exit, i_cluster = col.get("state"), col.get("exitcode"), col.get("cluster")
    i_nodelist = col.get("nodelist")
    when = LocalTimes(zone)
    salt = zone + "|"

    for number, line in enumerate(lines, start=2):
        line = line.rstrip("\r\n")
        if not line:
            continue
        f = line.split("|")
        if len(f) != width:
            raise ParseError(source, number, "line", line, f"{width} '|'-separated fields")
        job_id = f[i_job]
        if is_step(job_id):
            continue
        fp = fingerprint(salt + line)
        if known.get(job_id) == fp:
            yield Unchanged(job_id)
            continue
        if f[i_end] in NOT_ENDED:
            yield Running(job_id, number)
            continue
        if f[i_start] in NOT_ENDED or (i_nodelist is not None and f[i_nodelist] == NO_NODES):
            yield NeverRan(job_id, number)
            continue
        field = "Start"
        try:
            start = when(f[i_start])
            field = "End"
            end = when(f[i_end])
            field = "Submit"
            submit = (
                when(f[i_submit]) if i_submit is not None and f[i_submit] not in NOT_ENDED else None
            )
            field = "Eligible"
            if i_elig is None or f[i_elig] in NOT_ENDED:
                eligible = None
            elif i_submit is not None and f[i_elig] == f[i_submit]:
                eligible = submit
            else:
                eligible = when(f[i_elig])
            field = "AllocCPUS"
            cores = int(f[cpu_col] or 0)
            field = "NNodes"
            nodes = int(f[i_nodes] or 0) if i_nodes is not None else 0
            field = "Elapsed"
            if i_elapsed_raw is not None and f[i_elapsed_raw]:
                elapsed = int(f[i_elapsed_raw])
            elif i_elapsed is not None and f[i_elapsed]:
                elapsed = parse_elapsed(f[i_elapsed])
            else:
                elapsed = end - start
            field = "TotalCPU"
            cpu_time = parse_elapsed(f[i_cpu]) if i_cpu is not None and f[i_cpu] else None
            field = "MaxRSS" if i_mem == col.get("maxrss") else "ReqMem"
            memory = parse_size(f[i_mem]) if i_mem is not None else None
        except (ValueError, KeyError):
            raise ParseError(
                source, number, field, f[_index(col, field)], _EXPECTED[field]
            ) from None
        yield JobRecord(
            job_id,
            f[i_user].split("(", 1)[0],
            f[i_acct],
            f[i_part] if i_part is not None else "",
            submit,
            eligible,
            start,
            end,
            max(elapsed, 0),
            cores,
            nodes,
            cpu_time,
            memory,
            base_state(f[i_state]) if i_state is not None else "",
            f[i_exit] if i_exit is not None else "",
            f[i_cluster] if i_cluster is not None else None,
            number,
            fp,
        )


_EXPECTED = {
    "Start": "a local time YYYY-MM-DDTHH:MM:SS",
    "End": "a local time YYYY-MM-DDTHH:MM:SS, Unknown or None",
    "Submit": "a local time YYYY-MM-DDTHH:MM:SS",
    "Eligible": "a local time YYYY-MM-DDTHH:MM:SS",
    "AllocCPUS": "a whole number of CPUs",
    "NNodes": "a whole number of nodes",
    "Elapsed": "D-HH:MM:SS, HH:MM:SS or MM:SS.mmm",
    "TotalCPU": "D-HH:MM:SS, HH:MM:SS or MM:SS.mmm",
    "MaxRSS": "a size such as 1234K or 2.5G",
    "ReqMem": "a size such as 4000M or 4G",
}
_COLUMN = {
    "Start": ("start",),
    "End": ("end",),
    "Submit": ("submit",),
    "Eligible": ("eligible",),
    "AllocCPUS": ("alloccpus", "ncpus"),
    "NNodes": ("nnodes", "allocnodes"),
    "Elapsed": ("elapsedraw", "elapsed"),
    "TotalCPU": ("totalcpu",),
    "MaxRSS": ("maxrss",),
    "ReqMem": ("reqmem",),
}


def _index(col: dict[str, int], field: str) -> int:
    return next(col[c] for c in _COLUMN[field] if c in col)
