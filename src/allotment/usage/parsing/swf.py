"""The Standard Workload Format of the Parallel Workloads Archive.

Header lines start with ';' (UnixStartTime gives the epoch of time 0). Each other line is
18 whitespace-separated numbers, -1 meaning unknown. SWF ids are anonymous numbers local
to one system, so user u and group g become the username `<machine>-u<u>` and the project
id `<machine>-g<g>`; a job without a group (-1) has no project and is kept as unallocated.
Jobs with unknown processors or run time are kept with no usage; a job whose submit time
is unknown cannot be placed in time and is rejected (kept in quarantine).
"""

from collections.abc import Iterable, Iterator

from .common import Invalid, JobRecord, ParseError, Unchanged, fingerprint

STATES = {"1": "COMPLETED", "0": "FAILED", "5": "CANCELLED", "-1": ""}
FIELDS = (
    "job number", "submit time", "wait time", "run time", "allocated processors",
    "average CPU time", "used memory", "requested processors", "requested time",
    "requested memory", "status", "user id", "group id", "executable number",
    "queue number", "partition number", "preceding job", "think time",
)  # fmt: skip


def parse(
    lines: Iterable[str], source: str, machine: str, known: dict[str, int] | None = None
) -> Iterator[JobRecord | Unchanged | Invalid]:
    known = known or {}
    epoch = 0
    for number, line in enumerate(lines, start=1):
        if line.startswith(";"):
            if line.startswith("; UnixStartTime:"):
                try:
                    epoch = int(line.split(":", 1)[1])
                except ValueError:
                    raise ParseError(
                        source, number, "UnixStartTime", line, "an integer epoch"
                    ) from None
            continue
        f = line.split()
        if not f:
            continue
        if len(f) != 18:
            raise ParseError(
                source, number, "line", line.strip(), "18 whitespace-separated numbers"
            )
        job_id = f[0]
        fp = fingerprint(f"{epoch}|{line.strip()}")
        if known.get(job_id) == fp:
            yield Unchanged(job_id)
            continue
        try:
            values = [float(v) for v in f]
        except ValueError:
            bad = next(i for i, v in enumerate(f) if not _is_number(v))
            raise ParseError(source, number, FIELDS[bad], f[bad], "a number") from None
        submit, wait, run, procs = values[1], values[2], values[3], values[4]
        cpu, user, group = values[5], int(values[11]), int(values[12])
        username = f"{machine}-u{user}" if user >= 0 else ""
        account = f"{machine}-g{group}" if group >= 0 else ""
        if submit < 0:
            yield Invalid(
                job_id,
                number,
                "the submit time is unknown (-1), so the job has no place in time",
                {"line": line.strip()},
            )
            continue
        submit_ts = epoch + int(submit)
        start = submit_ts + max(int(wait), 0)
        elapsed = max(int(run), 0)
        cores = max(int(procs), 0)
        yield JobRecord(
            job_id,
            username,
            account,
            f"q{int(values[14])}" if values[14] >= 0 else "",
            submit_ts,
            submit_ts,
            start,
            start + elapsed,
            elapsed,
            cores,
            0,
            int(cpu * cores) if cpu >= 0 else None,
            int(values[6]) * 1024 * cores if values[6] >= 0 else None,
            STATES.get(f[10], f[10]),
            "",
            None,
            number,
            fp,
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
