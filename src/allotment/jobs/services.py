"""Submit, list, show and cancel a person's own jobs: the one place the CLI, the web form and
the API go through.

A job goes to Slurm as the person it is for, with a token for them alone
(integrations.slurm.rest); never as root on their behalf. Before that, the ledger must say
they may run it: an active account on the machine's category, a membership in the project,
and something left of the project's allocation (the machine's CPU pool; for a burst
partition, the clouds' VM pool too). Each refusal says which of these failed.

What a request may ask for is bounded (script size, cores, memory, time, list length) so no
form or script can hand slurmrestd an unbounded request. slurmrestd is called with no
database transaction open: a slow slurmctld (9 s per call when it is down) holds no lock.

How many jobs one person submits is bounded too (settings, read when checked):
ALLOTMENT_JOB_SUBMIT_PER_HOUR (default 200) submissions in the last hour, and
ALLOTMENT_JOB_UNFINISHED_MAX (default 1000) not finished as last seen; a site
administrator's --as counts against the person the job is for. Two requests of one person
must not both pass at the edge, yet slurmrestd may take 60 s and no transaction may stay
open that long. So a submission reserves its place: in one short transaction that locks the
person's row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions take the
database's write lock), the limits are counted again and a Submission is written in state
SENDING with no job id. The lock is released, slurmrestd is called with nothing open, and
the row then gets its job id (or is deleted if Slurm refused the job: nothing half-written).
A concurrent request waits only for the other's count-and-insert, and counts its SENDING
row. A process stopped mid-call leaves a SENDING row: after SENDING_DEADLINE it becomes
UNCONFIRMED (it still counts in the hour; Slurm may have the job) the next time the person
submits. The unlocked count in check() refuses early, before any other work; the locked one
is what guarantees the bound.

Slurm reuses job ids, so a lookup by id (show, cancel, output) takes the person's newest
submission with that id on that machine, and what Slurm shows under an id is written only
onto the row it belongs to: never onto a finished row, never onto a row a later submission
took the id from (that one is GONE), and not when Slurm's submit time for it is later than
the row's (beyond CLOCK_SKEW) unless Slurm requeued the job (a requeue gives a job a new
submit time).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from allotment.access import policy
from allotment.core.numbers import is_digits
from allotment.integrations.slurm import rest
from allotment.integrations.slurm.sync import remaining_minutes, slurm_name
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.resources.models import Account, Machine

from . import output as job_output
from .models import FINISHED, GONE, SENDING, UNCONFIRMED, Submission, Via

MAX_SCRIPT_BYTES = 64 * 1024
MAX_CORES = 256
MAX_MEMORY_MB = 1024 * 1024
MAX_MINUTES = 7 * 24 * 60
MAX_LIST = 200
DEFAULT_LIST = 50
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TIME = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m?)?\Z")
HOUR = timedelta(hours=1)
SUBMIT_PER_HOUR = 200  # ALLOTMENT_JOB_SUBMIT_PER_HOUR
UNFINISHED_MAX = 1000  # ALLOTMENT_JOB_UNFINISHED_MAX
# Longer than any slurmrestd call may take (a token from scontrol and the request: 30 s each).
SENDING_DEADLINE = timedelta(minutes=5)
# How far slurmctld's clock may be ahead of this host's before a submit time is "later".
CLOCK_SKEW = 60
OUTPUT_NAME = "allot-%j.out"


class JobRefused(Exception):
    """The ledger or Slurm would not take this; the message says why (for the person)."""


class NoSuchJob(JobRefused):
    """No job of this person's with that id on that machine (another's looks the same)."""


class LimitReached(JobRefused):
    """The person has submitted as many jobs as the site allows for now; `retry_after`:
    seconds until they may submit again (None: once some of their jobs finish)."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Ask:
    """A job as a person asks for it, before any check."""

    script: str
    project: str
    machine: str = ""  # empty: the one machine that takes jobs
    cores: int = 1
    memory_mb: int = 0
    minutes: int = 60
    partition: str = ""
    image: str = ""
    name: str = ""


def ask_from(data: dict) -> Ask:
    """An Ask from a web form's or an API body's cleaned data (time as people write it)."""
    return Ask(
        script=data["script"].replace("\r\n", "\n"),
        project=data["project"],
        machine=data.get("machine") or "",
        cores=data.get("cores") or 1,
        memory_mb=data.get("memory_mb") or 0,
        minutes=parse_minutes(data.get("time") or "1h"),
        partition=data.get("partition") or "",
        image=data.get("image") or "",
        name=data.get("name") or "",
    )


def parse_minutes(text: str) -> int:
    """A time limit as people write it: 90 or 90m (minutes), 1h, 1h30m, 2d, or H:MM:SS."""
    text = str(text).strip().lower()
    if ":" in text:
        parts = text.split(":")
        if len(parts) in (2, 3) and all(is_digits(p) for p in parts):
            # H:MM:SS, or MM:SS as sbatch reads two parts
            seconds = sum(int(p) * 60**i for i, p in enumerate(reversed(parts)))
            return -(-seconds // 60)
    elif text and (found := _TIME.match(text)) and any(found.groups()):
        days, hours, minutes = (int(g or 0) for g in found.groups())
        return days * 1440 + hours * 60 + minutes
    raise JobRefused(f'"{text}" is not a time limit: write 90 (minutes), 1h30m, 2d or 1:30:00.')


# --- who acts ----------------------------------------------------------------------------


def acting_for(actor: Person | None, username: str | None) -> Person:
    """The person a request acts as: the actor, or (site administrators only) another."""
    if actor is None or not policy.signed_in(actor):
        raise JobRefused(
            f"{actor or 'Someone not in the ledger'} may not run jobs: only an active person "
            "who is not locked or expired may."
        )
    if not username or username == actor.username:
        return actor
    if not policy.is_site_admin(actor):
        raise JobRefused(f"Only site administrators may act as another person ({username}).")
    person = Person.objects.filter(username=username).first()
    if person is None:
        raise JobRefused(f'There is no person "{username}".')
    if not policy.signed_in(person):
        raise JobRefused(f"{username} may not run jobs: they are locked, inactive or expired.")
    return person


def job_machines() -> list[Machine]:
    """Machines that take jobs through Allotment (a Slurm machine naming its slurmrestd)."""
    return [
        m
        for m in Machine.objects.filter(engine="slurm").order_by("name")
        if (m.engine_options or {}).get("slurmrestd")
    ]


def machine_named(name: str) -> Machine:
    takers = job_machines()
    if not name:
        if len(takers) == 1:
            return takers[0]
        names = ", ".join(m.name for m in takers) or "none"
        raise JobRefused(f"Say which machine (--machine): the machines taking jobs are {names}.")
    machine = Machine.objects.filter(name=name).first()
    if machine is None:
        raise JobRefused(f'There is no machine "{name}".')
    if machine not in takers:
        raise JobRefused(
            f"Machine {name} takes no jobs through Allotment (it is not a Slurm machine with "
            "a slurmrestd in its engine options)."
        )
    return machine


def account_on(person: Person, machine: Machine) -> Account:
    account = Account.objects.filter(
        person=person, machine_category_id=machine.category_id, date_deleted__isnull=True
    ).first()
    if account is None or not account.login_enabled:
        state = "no account" if account is None else "a disabled account"
        raise JobRefused(
            f"{person.username} has {state} on {machine.name} (machine category "
            f'"{machine.category}"): a job there needs an active account.'
        )
    return account


# --- the checks --------------------------------------------------------------------------


def check(person: Person, ask: Ask) -> tuple[Machine, Project, Account]:
    """Everything the ledger requires before a job goes to Slurm, or JobRefused.

    The submission limits are counted here without a lock, for an early answer; submit()
    counts them again under the person's lock as it reserves the row (module docstring)."""
    _check_bounds(ask)
    check_limits(person, refresh=True)
    machine = machine_named(ask.machine)
    project = Project.objects.filter(pid=ask.project).first()
    if project is None:
        raise JobRefused(f'There is no project "{ask.project}".')
    account = account_on(person, machine)
    if not project.is_active:
        raise JobRefused(f"Project {project.pid} is not active: it runs no jobs.")
    if not ProjectMembership.objects.filter(person=person, project=project).exists():
        raise JobRefused(
            f"{person.username} is not a member of project {project.pid}, so cannot charge "
            "jobs to it."
        )
    _check_cpu_left(machine, project, ask)
    if ask.partition and ask.partition in burst_partitions(machine):
        _check_vm_left(machine, project)
    return machine, project, account


def _check_bounds(ask: Ask) -> None:
    size = len(ask.script.encode())
    if not size:
        raise JobRefused("The script is empty.")
    if size > MAX_SCRIPT_BYTES:
        raise JobRefused(f"The script is {size} bytes; at most {MAX_SCRIPT_BYTES} are taken.")
    if not ask.script.startswith("#!"):
        raise JobRefused("The script must begin with #! and its interpreter (e.g. #!/bin/bash).")
    if "\0" in ask.script:
        raise JobRefused("The script holds a NUL byte.")
    if not 1 <= ask.cores <= MAX_CORES:
        raise JobRefused(f"Cores must be from 1 to {MAX_CORES}, not {ask.cores}.")
    if not 0 <= ask.memory_mb <= MAX_MEMORY_MB:
        raise JobRefused(f"Memory must be from 0 to {MAX_MEMORY_MB} MB, not {ask.memory_mb}.")
    if not 1 <= ask.minutes <= MAX_MINUTES:
        raise JobRefused(f"The time limit must be from 1 to {MAX_MINUTES} minutes (7 days).")
    for label, value in (("partition", ask.partition), ("image", ask.image), ("name", ask.name)):
        if value and not _NAME.match(value):
            raise JobRefused(
                f'The {label} "{value[:70]}" is not a name (letters, digits, . _ -; at most 64).'
            )


def limits() -> tuple[int, int]:
    """(submissions per hour, unfinished at once) a person may have, from the settings."""
    return (
        int(getattr(settings, "ALLOTMENT_JOB_SUBMIT_PER_HOUR", SUBMIT_PER_HOUR)),
        int(getattr(settings, "ALLOTMENT_JOB_UNFINISHED_MAX", UNFINISHED_MAX)),
    )


def check_limits(person: Person, refresh: bool = False) -> None:
    """LimitReached if the person has used up either submission limit (module docstring).

    With `refresh`, a person at the unfinished limit first has their unfinished jobs' states
    read from Slurm (only then: it costs a call per machine), so jobs that ended since they
    last looked stop counting. Never with a transaction open."""
    per_hour, most = limits()
    now = timezone.now()
    mine = Submission.objects.filter(person=person)
    # A place held past the deadline: its process stopped while slurmrestd was called.
    mine.filter(state=SENDING, submitted_at__lt=now - SENDING_DEADLINE).update(
        state=UNCONFIRMED, state_seen_at=now
    )
    recent = mine.filter(submitted_at__gt=now - HOUR)
    count = recent.count()
    if count >= per_hour:
        if per_hour < 1:
            raise LimitReached(
                "Job submission through Allotment is closed on this site "
                "(ALLOTMENT_JOB_SUBMIT_PER_HOUR is 0)."
            )
        # The submission whose hour must pass before the count is below the limit again.
        frees = recent.order_by("submitted_at", "pk")[count - per_hour].submitted_at + HOUR
        wait = max(1, math.ceil((frees - now).total_seconds()))
        raise LimitReached(
            f"{person.username} has submitted {_jobs(count)} in the last hour; at most "
            f"{per_hour} an hour are taken (ALLOTMENT_JOB_SUBMIT_PER_HOUR). Submit again "
            f"after {timezone.localtime(frees):%Y-%m-%d %H:%M:%S %Z} (in {wait} s).",
            retry_after=wait,
        )
    unfinished = mine.exclude(state__in=FINISHED)
    count = unfinished.count()
    if count >= most and refresh:
        _refresh(list(unfinished.exclude(job_id=None).select_related("machine")))
        count = unfinished.count()
    if count >= most:
        raise LimitReached(
            f"{person.username} has {_jobs(count)} submitted through Allotment that have not "
            f"finished (as last seen); at most {most} at once are taken "
            "(ALLOTMENT_JOB_UNFINISHED_MAX). Submit more once some have finished."
        )


def _jobs(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


def burst_partitions(machine: Machine) -> list[str]:
    return list(((machine.engine_options or {}).get("burst") or {}).get("partitions") or [])


def _check_cpu_left(machine: Machine, project: Project, ask: Ask) -> None:
    """The project's share of its CPU allocation on this machine today, as Slurm's limit
    is computed (sync.remaining_minutes): nothing left, or less than the job may use."""
    projects = {
        p.pk: p
        for p in Project.objects.filter(is_active=True).only(
            "pk", "pid", "parent_id", "allocation_mode"
        )
    }
    left = remaining_minutes(machine, projects).get(slurm_name(project.pid))
    if left is None:
        return  # no CPU pool of this machine ever allocated to it: not limited
    if left <= 0:
        raise JobRefused(
            f"Project {project.pid} has no CPU time left on {machine.name}: its allocation "
            "for today's period is spent (or it has none covering today)."
        )
    asked = ask.cores * ask.minutes
    if asked > left:
        raise JobRefused(
            f"The job may use up to {asked} CPU minutes ({ask.cores} cores × {ask.minutes} "
            f"min) but project {project.pid} has {left} left on {machine.name}: ask for "
            "fewer cores or less time."
        )


def _check_vm_left(machine: Machine, project: Project) -> None:
    from allotment.burst.services import remaining_by_account

    clouds = list(machine.burst_clouds.filter(enabled=True))
    account = slurm_name(project.pid)
    left = remaining_by_account(clouds, [account]).get(account) if clouds else None
    if left is not None and left <= Decimal(0):
        raise JobRefused(
            f"Project {project.pid} has no VM time left for {machine.name}'s burst partitions: "
            "its VM allocation is spent (or it has none covering today)."
        )


# --- the four actions ----------------------------------------------------------------------


def client(machine: Machine) -> rest.SlurmRest:
    return rest.SlurmRest.for_options(machine.name, machine.engine_options or {})


def submit(actor: Person, ask: Ask, as_username: str | None = None, via: str = Via.CLI):
    """Check, reserve the person's place, send to slurmrestd as them, then record the job id
    (module docstring). Returns the Submission."""
    person = acting_for(actor, as_username)
    machine, project, account = check(person, ask)
    options = machine.engine_options or {}
    user = slurm_name(account.username)
    working_dir = options.get("jobs_dir") or "/tmp"
    pattern, output_at = output_paths(machine, working_dir)
    request = rest.JobRequest(
        script=ask.script,
        account=slurm_name(project.pid),
        name=ask.name or "allot-job",
        partition=ask.partition,
        cores=ask.cores,
        memory_mb=ask.memory_mb,
        time_minutes=ask.minutes,
        comment=f"image={ask.image}" if ask.image else "",
        working_dir=working_dir,
        environment={"USER": user, "LOGNAME": user},
        standard_output=pattern,
    )
    row = _reserve(
        person,
        Submission(
            person=person,
            submitted_by=actor if actor != person else None,
            project=project,
            machine=machine,
            slurm_user=user,
            name=request.name,
            partition=ask.partition,
            cores=ask.cores,
            memory_mb=ask.memory_mb,
            time_minutes=ask.minutes,
            image=ask.image,
            script_sha256=hashlib.sha256(ask.script.encode()).hexdigest(),
            script_bytes=len(ask.script.encode()),
            via=via,
            state=SENDING,
        ),
    )
    try:
        job_id = client(machine).submit(user, request)  # no transaction is open here
    except rest.RestError as e:
        _unsent(row, e.permanent)
        raise JobRefused(str(e)) from None
    except BaseException:
        _unsent(row, refused=False)
        raise
    with transaction.atomic():
        # The id is this job's now: an unfinished row that had it (anyone's) ended unseen.
        Submission.objects.filter(machine=machine, job_id=job_id).exclude(
            state__in=FINISHED
        ).update(state=GONE, state_seen_at=timezone.now())
        now = timezone.now()
        row.job_id, row.state, row.submitted_at, row.state_seen_at = job_id, "PENDING", now, now
        row.output_path = output_at(job_id)
        row.save(update_fields=["job_id", "state", "submitted_at", "state_seen_at", "output_path"])
    return row


def output_paths(machine: Machine, directory: str) -> tuple[str, Callable[[int], str]]:
    """Slurm's standard_output pattern for a job of `machine` (allot-%j.out in
    `directory`), and a function giving the path it resolves to once the id is known."""
    if not directory.startswith("/") or "\\" in directory:
        raise JobRefused(
            f"Machine {machine.name}'s jobs_dir {directory!r} is not an absolute path Slurm "
            "takes literally (no backslash): ask the site administrators to fix it."
        )
    directory = directory.rstrip("/")
    # In Slurm's pattern a % is written %%; only the %j of OUTPUT_NAME is a pattern.
    pattern = f"{directory.replace('%', '%%')}/{OUTPUT_NAME}"
    return pattern, lambda job_id: f"{directory}/{OUTPUT_NAME.replace('%j', str(job_id))}"


def _unsent(row: Submission, refused: bool) -> None:
    """slurmrestd did not give the reserved row a job id. Refused (Slurm said no): no job,
    so no row. Otherwise (no answer, or this process interrupted) Slurm may have the job:
    the row stays, UNCONFIRMED, and counts in the person's hour."""
    if refused:
        row.delete()
    else:
        row.state, row.state_seen_at = UNCONFIRMED, timezone.now()
        row.save(update_fields=["state", "state_seen_at"])


def _reserve(person: Person, row: Submission) -> Submission:
    """Count the limits again under the person's row lock and write `row` (SENDING) in the
    same short transaction, so a concurrent submission of theirs counts it."""
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()
        check_limits(person)
        row.submitted_at = row.state_seen_at = timezone.now()
        row.save()
    return row


def submissions(
    actor: Person,
    as_username: str | None = None,
    machine: str = "",
    limit: int = DEFAULT_LIST,
    refresh: bool = True,
) -> list[Submission]:
    """The person's newest jobs (at most MAX_LIST), their unfinished ones' states read from
    Slurm as that person. A submission still without a job id (SENDING, UNCONFIRMED) is
    no job one can show or cancel: not listed."""
    person = acting_for(actor, as_username)
    if not 1 <= limit <= MAX_LIST:
        raise JobRefused(f"The list length must be from 1 to {MAX_LIST}, not {limit}.")
    rows = (
        Submission.objects.filter(person=person)
        .exclude(job_id=None)
        .select_related("machine", "project")
    )
    if machine:
        rows = rows.filter(machine=machine_named(machine))
    found = list(rows[:limit])
    if refresh:
        _refresh(found)
    return found


def _refresh(rows: list[Submission]) -> None:
    """Read what Slurm shows each owner about their unfinished jobs; a job slurmctld has
    forgotten keeps its last seen state. An unreachable slurmrestd leaves them as they are."""
    by_owner: dict[tuple[int, str], list[Submission]] = {}
    for row in rows:
        if not row.finished and row.job_id is not None:
            by_owner.setdefault((row.machine_id, row.slurm_user), []).append(row)
    for (_, user), mine in by_owner.items():
        try:
            seen = client(mine[0].machine).jobs(user)
        except rest.RestError:
            continue
        _note_views(mine, seen)
        _note_forgotten(mine, {v.job_id for v in seen})


def _note_forgotten(rows: list[Submission], held: set[int]) -> None:
    """slurmctld holds every pending and running job, and shows its owner theirs: a row's job
    missing from the owner's list has ended (slurmctld forgets a job MinJobAge, 300 s by
    default, after it ends). It becomes GONE, so it stops counting as unfinished against the
    person's limit; `show` reads its end from Slurm's accounting. A row recorded only now
    (within CLOCK_SKEW) is left: slurmctld may not list it yet."""
    recent = timezone.now() - timedelta(seconds=CLOCK_SKEW)
    ended = [r.pk for r in rows
             if r.job_id not in held and not r.finished and r.submitted_at < recent]  # fmt: skip
    if ended:
        Submission.objects.filter(pk__in=ended).exclude(state__in=FINISHED).update(
            state=GONE, state_seen_at=timezone.now()
        )
        for row in rows:
            if row.pk in ended:
                row.state = GONE


def same_job(row: Submission, view: rest.JobView) -> bool:
    """Whether Slurm's `view` of the row's job id is the row's job, not a later one given
    the same id: a job Slurm says was submitted after the row was recorded (beyond
    CLOCK_SKEW) is another, unless Slurm requeued it (a requeue moves the submit time).
    Without a submit time it is taken as the row's: a row a later submission took the id
    from is GONE already, so finished, and never compared."""
    if view.job_id != row.job_id or view.submitted is None or view.restarts:
        return view.job_id == row.job_id
    return view.submitted <= row.submitted_at.timestamp() + CLOCK_SKEW


def _note_views(rows: list[Submission], views: list[rest.JobView]) -> None:
    """Write Slurm's state onto each unfinished (or GONE) row whose job the view is
    (same_job); a finished row is Slurm's last word on that job and is never written
    again."""
    by_id = {v.job_id: v for v in views}
    now = timezone.now()
    for row in rows:
        view = by_id.get(row.job_id)
        # GONE only says the job ended: its end state, once read (show), replaces it.
        if view is None or (row.finished and row.state != GONE) or not same_job(row, view):
            continue
        if view.state != row.state:
            row.state, row.state_seen_at = view.state, now
            row.save(update_fields=["state", "state_seen_at"])


def show(
    actor: Person, job_id: int, machine: str = "", as_username: str | None = None
) -> tuple[Submission, rest.JobView | None]:
    """One of the person's jobs (the newest with that id), and what Slurm shows them of it
    now: None once slurmctld and its accounting have forgotten it, when slurmrestd does not
    answer, or when what Slurm holds under that id is a later job (same_job)."""
    person = acting_for(actor, as_username)
    row = _own(person, job_id, machine)
    try:
        view = client(row.machine).job(row.slurm_user, row.job_id)
    except rest.RestError:
        return row, None
    if not same_job(row, view):
        return row, None
    _note_views([row], [view])
    return row, view


def cancel(
    actor: Person, job_id: int, machine: str = "", as_username: str | None = None
) -> Submission:
    """Cancel one of the person's jobs (the newest with that id), as them: Slurm checks the
    owner again. A finished one is not sent: the id may be another job's by now."""
    person = acting_for(actor, as_username)
    row = _own(person, job_id, machine)
    if row.finished:
        raise JobRefused(
            f"Job {row.job_id} on {row.machine.name} has finished ({row.state}): nothing to cancel."
        )
    try:
        client(row.machine).cancel(row.slurm_user, row.job_id)
    except rest.RestError as e:
        raise JobRefused(str(e)) from None
    row.state, row.state_seen_at = "CANCELLED", timezone.now()
    row.save(update_fields=["state", "state_seen_at"])
    return row


def output(
    actor: Person,
    job_id: int,
    machine: str = "",
    as_username: str | None = None,
    lines: int | None = None,
) -> job_output.Output:
    """What one of the person's jobs printed (its last MAX_OUTPUT bytes; with `lines`, only
    the last that many lines of those), read from the path recorded when it was submitted,
    never one from the request (jobs.output says how it is checked)."""
    person = acting_for(actor, as_username)
    if lines is not None and not 1 <= lines <= job_output.MAX_LINES:
        raise JobRefused(f"The tail must be from 1 to {job_output.MAX_LINES} lines, not {lines}.")
    return output_of(_own(person, job_id, machine), lines)


def output_of(row: Submission, lines: int | None = None) -> job_output.Output:
    """`row`'s output, for a caller that found the row with show() (the person's own)."""
    stage = "finished" if row.finished else "pending" if row.state == "PENDING" else "running"
    found = job_output.read(row.output_path, row.slurm_user, stage)
    return found.tail(lines) if lines else found


def _own(person: Person, job_id: int, machine: str) -> Submission:
    """The person's newest submission with this job id (Slurm reuses ids), on `machine` or,
    when none is named, on the one machine where they have that id."""
    rows = Submission.objects.filter(person=person, job_id=job_id).select_related(
        "machine", "project", "person"
    )
    if machine:
        rows = rows.filter(machine__name=machine)
    found = rows.order_by("-submitted_at", "-pk").first()
    if found is None:
        where = f" on {machine}" if machine else ""
        raise NoSuchJob(
            f"{person.username} has no job {job_id}{where} submitted through Allotment."
        )
    if not machine and rows.exclude(machine_id=found.machine_id).exists():
        raise JobRefused(f"{person.username} has job {job_id} on several machines: say which.")
    return found


def as_dict(row: Submission, view: rest.JobView | None = None) -> dict:
    data = {
        "job_id": row.job_id,
        "output_path": row.output_path,
        "machine": row.machine.name,
        "person": row.person.username,
        "slurm_user": row.slurm_user,
        "project": row.project.pid,
        "name": row.name,
        "partition": row.partition,
        "cores": row.cores,
        "memory_mb": row.memory_mb,
        "time_minutes": row.time_minutes,
        "image": row.image,
        "script_sha256": row.script_sha256,
        "script_bytes": row.script_bytes,
        "via": row.via,
        "submitted_at": row.submitted_at.isoformat(),
        "state": row.state,
        "state_seen_at": row.state_seen_at.isoformat(),
    }
    if view is not None:
        data["slurm"] = {
            "state": view.state,
            "reason": view.reason,
            "user": view.user,
            "account": view.account,
            "partition": view.partition,
            "cores": view.cores,
            "exit_code": view.exit_code,
        }
    return data
