"""Helpers of the usage tests: hand-built sacct and CSV files, the CLI as JSON."""

import json
from datetime import date
from decimal import Decimal

from django.core.management import call_command

from allotment.usage import ingest
from allotment.usage.models import DailyUsage

SACCT_HEADER = "JobID|User|Account|Partition|Submit|Start|End|AllocCPUS|NNodes|State"


def sacct_line(job_id, user, account, start, end, cores, state="COMPLETED") -> str:
    return f"{job_id}|{user}|{account}|work|{start}|{start}|{end}|{cores}|1|{state}"


def write_sacct(path, *lines: str):
    path.write_text("\n".join([SACCT_HEADER, *lines]) + "\n")
    return path


def write_csv(path, rows):
    """Generic csv: (job_id, user, account, start, end, cores) with epoch times."""
    text = "job_id,user,account,start,end,cores\n"
    text += "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    path.write_text(text)
    return path


def import_(path, fmt="sacct", machine="brecca", **options) -> dict:
    summary = ingest.import_files([path], ingest.Options(format=fmt, machine=machine, **options))
    return summary.as_dict()


def cli_json(capsys, *args):
    capsys.readouterr()
    call_command(*args, "--json")
    return json.loads(capsys.readouterr().out)


def pools_of(capsys, pid: str) -> dict:
    data = cli_json(capsys, "allocation", "show", pid, "--period", "2100")
    return {p["pool"]: p for p in data["pools"]}


def daily(*fields, **filters) -> list[tuple]:
    fields = fields or ("day", "jobs", "raw", "used", "charge")
    return list(
        DailyUsage.objects.filter(**filters)
        .order_by("day", "charge", "person__username", "pk")
        .values_list(*fields)
    )


def day(month: int, d: int) -> date:
    return date(2100, month, d)


def dec(value) -> Decimal:
    return Decimal(value)
