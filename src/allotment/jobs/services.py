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
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from allotment.access import policy
from allotment.integrations.slurm import rest
from allotment.integrations.slurm.sync import remaining_minutes, slurm_name
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.resources.models import Account, Machine

from .models import Submission, Via

MAX_SCRIPT_BYTES = 64 * 1024
MAX_CORES = 256
MAX_MEMORY_MB = 1024 * 1024
MAX_MINUTES = 7 * 24 * 60
MAX_LIST = 200
DEFAULT_LIST = 50
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TIME = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m?)?\Z")


class JobRefused(Exception):
    """The ledger or Slurm would not take this; the message says why (for the person)."""


class NoSuchJob(JobRefused):
    """No job of this person's with that id on that machine (another's looks the same)."""


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
        if len(parts) in (2, 3) and all(p.isascii() and p.isdigit() for p in parts):
            seconds = sum(int(p) * 60**i for i, p in enumerate(reversed(parts)))
            if len(parts) == 2:  # MM:SS, as sbatch reads it
                seconds = int(parts[0]) * 60 + int(parts[1])
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
    """Everything the ledger requires before a job goes to Slurm, or JobRefused."""
    _check_bounds(ask)
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
    """Check, send to slurmrestd as the person, then record. Returns the Submission."""
    person = acting_for(actor, as_username)
    machine, project, account = check(person, ask)
    options = machine.engine_options or {}
    user = slurm_name(account.username)
    request = rest.JobRequest(
        script=ask.script,
        account=slurm_name(project.pid),
        name=ask.name or "allot-job",
        partition=ask.partition,
        cores=ask.cores,
        memory_mb=ask.memory_mb,
        time_minutes=ask.minutes,
        comment=f"image={ask.image}" if ask.image else "",
        working_dir=options.get("jobs_dir") or "/tmp",
        environment={"USER": user, "LOGNAME": user},
    )
    try:
        job_id = client(machine).submit(user, request)  # no transaction is open here
    except rest.RestError as e:
        raise JobRefused(str(e)) from None
    with transaction.atomic():
        return Submission.objects.create(
            person=person,
            submitted_by=actor if actor != person else None,
            project=project,
            machine=machine,
            job_id=job_id,
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
        )


def submissions(
    actor: Person,
    as_username: str | None = None,
    machine: str = "",
    limit: int = DEFAULT_LIST,
    refresh: bool = True,
) -> list[Submission]:
    """The person's newest jobs (at most MAX_LIST), their unfinished ones' states read from
    Slurm as that person."""
    person = acting_for(actor, as_username)
    if not 1 <= limit <= MAX_LIST:
        raise JobRefused(f"The list length must be from 1 to {MAX_LIST}, not {limit}.")
    rows = Submission.objects.filter(person=person).select_related("machine", "project")
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
        if not row.finished:
            by_owner.setdefault((row.machine_id, row.slurm_user), []).append(row)
    for (_, user), mine in by_owner.items():
        try:
            seen = {j.job_id: j.state for j in client(mine[0].machine).jobs(user)}
        except rest.RestError:
            continue
        _note_states(mine, seen)


def _note_states(rows: list[Submission], seen: dict[int, str]) -> None:
    now = timezone.now()
    for row in rows:
        state = seen.get(row.job_id)
        if state and state != row.state:
            row.state, row.state_seen_at = state, now
            row.save(update_fields=["state", "state_seen_at"])


def show(
    actor: Person, job_id: int, machine: str = "", as_username: str | None = None
) -> tuple[Submission, rest.JobView | None]:
    """One of the person's jobs, and what Slurm shows them of it now (None once slurmctld
    has forgotten it, or when slurmrestd does not answer)."""
    person = acting_for(actor, as_username)
    row = _own(person, job_id, machine)
    try:
        view = client(row.machine).job(row.slurm_user, row.job_id)
    except rest.RestError:
        return row, None
    _note_states([row], {view.job_id: view.state})
    return row, view


def cancel(
    actor: Person, job_id: int, machine: str = "", as_username: str | None = None
) -> Submission:
    """Cancel one of the person's jobs, as them: Slurm checks the owner again."""
    person = acting_for(actor, as_username)
    row = _own(person, job_id, machine)
    try:
        client(row.machine).cancel(row.slurm_user, row.job_id)
    except rest.RestError as e:
        raise JobRefused(str(e)) from None
    _note_states([row], {row.job_id: "CANCELLED"} if not row.finished else {})
    return row


def _own(person: Person, job_id: int, machine: str) -> Submission:
    rows = Submission.objects.filter(person=person, job_id=job_id).select_related(
        "machine", "project"
    )
    if machine:
        rows = rows.filter(machine__name=machine)
    found = list(rows[:2])
    if len(found) != 1:
        where = f" on {machine}" if machine else ""
        if len(found) > 1:
            raise JobRefused(f"{person.username} has job {job_id} on several machines: say which.")
        raise NoSuchJob(
            f"{person.username} has no job {job_id}{where} submitted through Allotment."
        )
    return found[0]


def as_dict(row: Submission, view: rest.JobView | None = None) -> dict:
    data = {
        "job_id": row.job_id,
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
