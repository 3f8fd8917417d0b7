"""HTCondor's `condor_history -json`: a JSON list of job ClassAds.

A job is `<ClusterId>.<ProcId>`, prefixed by its schedd (from GlobalJobId) when known, so
two schedds feeding one machine do not collide. The account is AcctGroup (or the group
part of AccountingGroup); cores are CpusProvisioned, else RequestCpus; the run time is
RemoteWallClockTime. Jobs not completed or removed (JobStatus 3 or 4) are skipped as
still running.
"""

import json
from collections.abc import Iterator
from typing import IO

from .common import JobRecord, NeverRan, ParseError, Running, Unchanged, fingerprint

STATUS = {1: "PENDING", 2: "RUNNING", 3: "CANCELLED", 4: "COMPLETED", 5: "HELD", 6: "FAILED"}


def _int(ad: dict, *names: str) -> int | None:
    for name in names:
        value = ad.get(name)
        if value not in (None, ""):
            return int(float(value))
    return None


def job_id_of(ad: dict) -> str:
    local = f"{int(ad['ClusterId'])}.{int(ad.get('ProcId', 0))}"
    schedd = str(ad.get("GlobalJobId", "")).split("#", 1)[0]
    return f"{schedd}#{local}"[-64:] if schedd else local


def account_of(ad: dict) -> str:
    group = ad.get("AcctGroup")
    if group:
        return str(group)
    accounting = str(ad.get("AccountingGroup") or "")
    return accounting.rsplit(".", 1)[0] if "." in accounting else accounting


def parse(
    stream: IO[str], source: str, known: dict[str, int] | None = None
) -> Iterator[JobRecord | Running | NeverRan | Unchanged]:
    known = known or {}
    try:
        ads = json.load(stream)
    except json.JSONDecodeError as e:
        raise ParseError(
            source, e.lineno, "document", e.msg, "condor_history -json output"
        ) from None
    if isinstance(ads, dict):
        ads = [ads]
    if not isinstance(ads, list):
        raise ParseError(source, 1, "document", type(ads).__name__, "a list of job ClassAds")
    for index, ad in enumerate(ads, start=1):
        try:
            job_id = job_id_of(ad)
            fp = fingerprint(json.dumps(ad, sort_keys=True, separators=(",", ":")))
            if known.get(job_id) == fp:
                yield Unchanged(job_id)
                continue
            status = _int(ad, "JobStatus")
            start = _int(ad, "JobStartDate", "JobCurrentStartDate")
            end = _int(ad, "CompletionDate") or _int(ad, "EnteredCurrentStatus")
            if status in (3, 4) and not start:
                yield NeverRan(job_id, index)  # removed before it ran: no job, no usage
                continue
            if status not in (3, 4) or not end:
                yield Running(job_id, index)
                continue
            wall = _int(ad, "RemoteWallClockTime")
            cores = _int(ad, "CpusProvisioned", "RequestCpus") or 0
            cpu = (_int(ad, "RemoteUserCpu") or 0) + (_int(ad, "RemoteSysCpu") or 0)
            memory = _int(ad, "MemoryUsage")  # MB
            if memory is None and _int(ad, "ResidentSetSize_RAW") is not None:
                memory = _int(ad, "ResidentSetSize_RAW") // 1024  # KB
            yield JobRecord(
                job_id,
                str(ad.get("Owner") or ""),
                account_of(ad),
                "",
                _int(ad, "QDate"),
                _int(ad, "QDate"),
                start,
                end,
                max(wall if wall is not None else end - start, 0),
                cores,
                1,
                cpu,
                memory * 1024 * 1024 if memory is not None else None,
                STATUS.get(status, str(status)),
                "" if ad.get("ExitCode") is None else str(ad.get("ExitCode")),
                None,
                index,
                fp,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ParseError(
                source, index, f"ad[{index - 1}]", repr(e), "a job ClassAd with ClusterId"
            ) from None
