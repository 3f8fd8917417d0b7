"""Importing usage: parse, resolve names, write raw rows in bulk, rebuild the touched days.

One file is one transaction: a malformed record (ParseError) or an interruption leaves
nothing of that file behind, and running the import again completes it exactly. A record
naming someone or something the ledger does not know is kept in quarantine with the
reason (or, with create_missing, the person or project is created; with strict, the
import fails instead). Importing the same file again recognises every record by its
fingerprint and changes nothing.

A job is (machine, job id, submit time), as in Slurm's database: a record with a job id
already stored but another submit time is a new job (ids wrap, and restart at 1 when a
scheduler loses its state; each run of a requeued job is a record of its own). A record
without a submit time matches a stored job of its id without one.
"""

import gzip
import io
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from allotment.core.validation import save_validated
from allotment.people.models import Person
from allotment.projects.models import Project
from allotment.resources.models import (
    Account,
    Aggregation,
    Machine,
    MachineCategory,
    MachineKind,
    Metric,
    Resource,
    ResourcePool,
)

from . import aggregate, bulk, pipeline, reports
from .models import ImportRun, Job, Kind, QuarantinedRecord, Reason, StorageSnapshot
from .parsing import condor, generic, sacct, sacct_json, storage, swf
from .parsing.common import JobRecord, NeverRan, ParseError, Running, Unchanged

FORMATS = ("sacct", "sacct-json", "swf", "condor", "csv", "json", "storage-csv")
JOB_COLUMNS = (
    "machine_id", "job_id", "username", "person_id", "account", "project_id", "partition",
    "submit_ts", "eligible_ts", "start_ts", "end_ts", "elapsed", "cores", "nodes", "cpu_time",
    "memory", "state", "exit_code", "fingerprint",
)  # fmt: skip
BATCH = 20000


def decode_error(path: Path, error: UnicodeDecodeError) -> ParseError:
    """Where a file stops being UTF-8, as a parse error naming the line."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start : e.start + 1]
                return ParseError(str(path), number, "encoding", f"byte 0x{bad.hex()}",
                                  "UTF-8 text")  # fmt: skip
    return ParseError(str(path), 0, "encoding", str(error), "UTF-8 text")


class ImportFailed(Exception):
    """The import cannot go on (strict mode, bad options); nothing of the file was kept."""


class UnknownMachine(ImportFailed):
    """--machine names no machine (and --create-missing was not given): an import would only
    fill the quarantine, so it is refused before anything is read."""

    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        listed = ", ".join(known) if known else "none yet"
        super().__init__(
            f'there is no machine "{name}"; the machines are: {listed} '
            "(--create-missing creates it)"
        )

    @classmethod
    def named(cls, name: str) -> "UnknownMachine":
        """The refusal for `name`, listing the machines (read only when refusing)."""
        return cls(name, list(Machine.objects.order_by("name").values_list("name", flat=True)))


def not_gzip(path: Path, error: Exception) -> ImportFailed:
    """A .gz file that is not gzip, or is cut short, as one line naming the file."""
    if isinstance(error, gzip.BadGzipFile):
        return ImportFailed(f"{path}: not a gzip file")
    if isinstance(error, EOFError):
        return ImportFailed(f"{path}: the gzip data ends early (a truncated file)")
    return ImportFailed(f"{path}: corrupt gzip data ({error})")


GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def job_key(job_id: str, submit: int | None) -> str:
    """A quarantined job's key: its id, and its submit time when known, since one id may
    name several jobs."""
    if submit is None:
        return job_id[:128]
    when = datetime.fromtimestamp(submit, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{job_id}@{when}"[:128]


def known_jobs(machine: Machine, job_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Job id → the fingerprint of a stored record of that id (of one of them, when the id
    was reused): the parsers skip a record equal to it before reading it, and hand the
    writer anything else, which tells a new job from a stored one by its submit time."""
    rows = Job.objects.filter(machine=machine)
    if job_ids is None:
        return dict(rows.values_list("job_id", "fingerprint"))
    known: dict[str, int] = {}
    for part in bulk.chunks(list(dict.fromkeys(job_ids))):
        known.update(rows.filter(job_id__in=part).values_list("job_id", "fingerprint"))
    return known


@dataclass
class Summary:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    rejected: int = 0
    running: int = 0
    never_ran: int = 0  # ended before they started (cancelled while pending): no usage
    created: list[str] = field(default_factory=list)

    def add(self, other: "Summary") -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.created += other.created

    def as_dict(self) -> dict:
        return asdict(self)


COUNTS = ("read", "new", "updated", "unchanged", "quarantined", "rejected", "running",
          "never_ran")  # fmt: skip


@dataclass
class Options:
    format: str
    machine: str | None = None
    create_missing: bool = False
    institute: str | None = None
    strict: bool = False


def open_text(path: Path, progress: Callable[[int], None] | None = None) -> io.TextIOBase:
    """A file (gzip or plain) as text, reporting bytes read to `progress`."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the text wrapper
    if progress is not None:
        # Buffered: a text wrapper reading the counting stream directly is much slower.
        raw = io.BufferedReader(_Counting(raw, progress), 1 << 20)
    stream = gzip.GzipFile(fileobj=raw) if str(path).endswith(".gz") else raw
    return io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")


class _Counting(io.RawIOBase):
    def __init__(self, inner, report):
        self.inner, self.report = inner, report

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.inner.readinto(buffer)
        if n:
            self.report(n)
        return n

    def close(self):
        self.inner.close()
        super().close()


class Resolver:
    """Names in records to ledger rows, with create-missing and quarantine bookkeeping."""

    def __init__(self, machine: Machine | None, options: Options, summary: Summary):
        self.machine, self.options, self.summary = machine, options, summary
        self.people: dict[str, int] = dict(Person.objects.values_list("username", "pk"))
        if machine is not None:
            self.people.update(
                Account.objects.filter(
                    machine_category_id=machine.category_id, date_deleted__isnull=True
                ).values_list("username", "person_id")
            )
        self.projects: dict[str, int] = dict(
            Project.objects.annotate(key=Lower("pid")).values_list("key", "pk")
        )
        self._institute: Project | None = None

    def institute(self) -> Project:
        if self._institute is None:
            name = self.options.institute
            if not name:
                raise ImportFailed(
                    "--create-missing needs --institute NAME: the institute new projects go under."
                )
            found = Project.objects.filter(pid__iexact=name).first()
            if found is None:
                found = save_validated(Project(pid=name, name=name))
                self.summary.created.append(f"institute {name}")
            elif found.parent_id is not None:
                raise ImportFailed(f'"{name}" is a project, not an institute (a root project).')
            self._institute = found
        return self._institute

    def person(self, username: str) -> tuple[int | None, str | None]:
        """(person id, None) or (None, why not)."""
        if not username:
            return None, None
        found = self.people.get(username)
        if found is not None:
            return found, None
        if not self.options.create_missing:
            return None, f'no person or account "{username}" on this machine'
        person = Person(username=username, institute=self.institute())
        person.set_unusable_password()
        try:
            save_validated(person, exclude=["password"])
        except ValidationError as e:
            return None, f'cannot create person "{username}": {"; ".join(e.messages)}'
        self.people[username] = person.pk
        self.summary.created.append(f"person {username}")
        return person.pk, None

    def project(self, account: str) -> tuple[int | None, str | None]:
        if not account:
            return None, None
        found = self.projects.get(account.lower())
        if found is not None:
            return found, None
        if not self.options.create_missing:
            return None, f'no project "{account}"'
        from allotment.projects.services import create_project

        try:
            project = create_project(account, account, parent=self.institute())
        except ValidationError as e:
            return None, f'cannot create project "{account}": {"; ".join(e.messages)}'
        self.projects[account.lower()] = project.pk
        self.summary.created.append(f"project {account}")
        return project.pk, None


def find_machine(name: str, options: Options, summary: Summary) -> Machine | None:
    machine = Machine.objects.filter(name=name).first()
    if machine is not None or not options.create_missing:
        return machine
    category, _ = MachineCategory.objects.get_or_create(name="default")
    kind = MachineKind.STORAGE if options.format == "storage-csv" else MachineKind.BATCH
    machine = save_validated(Machine(name=name, category=category, kind=kind))
    summary.created.append(f"machine {name}")
    if kind == MachineKind.BATCH:
        pool = reports.job_pool()
        if pool is None:
            pool = save_validated(
                ResourcePool(
                    name="CPU Hours", units="hours", aggregation=Aggregation.SUM,
                    metric=Metric.CORE_SECONDS, unit_size=3600,
                )
            )  # fmt: skip
            summary.created.append("resource pool CPU Hours")
        save_validated(Resource(machine=machine, pool=pool, name=f"{name}-cores"))
    return machine


def _quarantine(rows: list[QuarantinedRecord]) -> None:
    # The same record twice in one file (sacct --duplicates, concatenated files): keep the
    # last, as the database can update a row only once per statement.
    rows = list({(r.kind, r.machine_name, r.key): r for r in rows}.values())
    if rows:
        QuarantinedRecord.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["kind", "machine_name", "key"],
            update_fields=["reason", "detail", "source", "record", "created"],
            batch_size=2000,
        )


def parse_jobs(
    fmt: str, stream, source: str, machine: str, zone: str, known: dict[str, int]
) -> Iterator:
    if fmt == "sacct":
        return sacct.parse(stream, source, zone, known)
    if fmt == "sacct-json":
        return sacct_json.parse(stream, source, known)
    if fmt == "swf":
        return swf.parse(stream, source, machine, known)
    if fmt == "condor":
        return condor.parse(stream, source, known)
    if fmt in ("csv", "json"):
        return generic.parse(stream, source, zone, known, json_input=fmt == "json")
    raise ImportFailed(f'Unknown format "{fmt}"; use one of {", ".join(FORMATS)}.')


class JobWriter:
    """Buffers resolved records and writes them in batches; tracks the touched time span.

    A record whose job id is not stored is new, without a query. One whose id is stored
    (`known`) is looked up by (job id, submit time) when the batch is written: the same
    key is an update (or unchanged), another submit time a new job of a reused id."""

    def __init__(self, machine: Machine, summary: Summary, known: dict[str, int]):
        self.machine, self.summary, self.known = machine, summary, known
        self.new: list[tuple] = []
        self.seen: dict[tuple[str, int | None], tuple] = {}
        self.lo: int | None = None
        self.hi: int | None = None
        self.imported: list[str] = []
        # Job ids in the quarantine, read in Python: SQLite's JSON functions turn "7" into 7.
        self.waiting = {
            str(record.get("job_id"))
            for record in QuarantinedRecord.objects.filter(
                kind=Kind.JOB, machine_name=machine.name
            ).values_list("record", flat=True)
            if isinstance(record, dict)
        }

    def touch(self, start: int, end: int) -> None:
        self.lo = start if self.lo is None or start < self.lo else self.lo
        self.hi = end if self.hi is None or end > self.hi else self.hi

    def add(self, row: tuple) -> None:
        job_id = row[1]
        self.touch(row[9], row[10])
        if job_id in self.waiting:
            self.imported.append(job_key(job_id, row[7]))
        if job_id in self.known:
            self.seen[(job_id, row[7])] = row
        else:
            self.known[job_id] = row[18]
            self.new.append(row)
        if len(self.new) + len(self.seen) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.new:
            bulk.insert(Job._meta.db_table, JOB_COLUMNS, self.new)
            self.summary.new += len(self.new)
            self.new = []
        if self.seen:
            self._update(self.seen)
            self.seen = {}

    def _update(self, rows: dict[tuple[str, int | None], tuple]) -> None:
        ids = list(dict.fromkeys(job_id for job_id, _ in rows))
        fields = [c.removesuffix("_id") if c.endswith("_id") and c != "job_id" else c
                  for c in JOB_COLUMNS]  # fmt: skip
        old: dict[tuple[str, int | None], tuple[int, tuple]] = {}
        for part in bulk.chunks(ids):
            for pk, *values in Job.objects.filter(
                machine=self.machine, job_id__in=part
            ).values_list("pk", *fields):
                old[(values[1], values[7])] = (pk, tuple(values))
        updates, new = [], []
        for key, row in rows.items():
            found = old.get(key)
            if found is None:  # an id seen before, with another submit time: a job of its own
                new.append(row)
                continue
            pk, previous = found
            self.touch(previous[9], previous[10])
            if previous[:-1] == tuple(row[:-1]):
                self.summary.unchanged += 1
            else:
                self.summary.updated += 1
            updates.append((*row[2:], pk))
        if new:
            bulk.insert(Job._meta.db_table, JOB_COLUMNS, new)
            self.summary.new += len(new)
        sets = ", ".join(f"{c} = %s" for c in JOB_COLUMNS[2:])
        bulk.executemany(f"UPDATE {Job._meta.db_table} SET {sets} WHERE id = %s", updates)


PARALLEL_BYTES = 8 * 1024 * 1024  # below this, a second process costs more than it saves


@dataclass
class Batch:
    """Records as plain tuples (cheap to send between processes), with what was skipped."""

    records: list[tuple] = field(default_factory=list)
    others: list = field(default_factory=list)  # Invalid
    unchanged: int = 0
    running: int = 0
    never_ran: int = 0


def _batches(path: Path, options: Options, zone: str, known: dict, progress) -> Iterator[Batch]:
    """The file's records in batches; parsed in a child process when the file is large."""
    source, machine = str(path), options.machine or ""

    def produce(report):
        try:
            yield from _produce(report)
        except UnicodeDecodeError as e:
            raise decode_error(path, e) from None
        except GZIP_ERRORS as e:
            raise not_gzip(path, e) from None

    def _produce(report):
        batch = Batch()
        with open_text(path, report) as stream:
            for record in parse_jobs(options.format, stream, source, machine, zone, known):
                kind = type(record)
                if kind is JobRecord:
                    batch.records.append(tuple(record))
                    if len(batch.records) >= pipeline.BATCH:
                        yield batch
                        batch = Batch()
                elif kind is Unchanged:
                    batch.unchanged += 1
                elif kind is Running:
                    batch.running += 1
                elif kind is NeverRan:
                    batch.never_ran += 1
                else:
                    batch.others.append(record)
        yield batch

    if path.stat().st_size < PARALLEL_BYTES or not pipeline.available():
        return produce(progress)
    return pipeline.in_child(produce, progress)


def import_job_file(path: Path, options: Options, progress=None) -> Summary:
    summary = Summary()
    source = str(path)
    with transaction.atomic():
        machine = find_machine(options.machine, options, summary) if options.machine else None
        if machine is None:
            raise UnknownMachine.named(options.machine or "")
        machine_name = machine.name
        known = known_jobs(machine)
        resolver = Resolver(machine, options, summary)
        writer = JobWriter(machine, summary, known)
        held: list[QuarantinedRecord] = []
        zone = machine.time_zone
        people, projects = resolver.people, resolver.projects
        machine_id = machine.pk
        make = JobRecord._make
        for batch in _batches(path, options, zone, known, progress):
            summary.read += len(batch.records) + len(batch.others) + batch.unchanged
            summary.read += batch.running + batch.never_ran
            summary.unchanged += batch.unchanged
            summary.running += batch.running
            summary.never_ran += batch.never_ran
            for invalid in batch.others:
                summary.rejected += 1
                held.append(
                    _held(machine_name, invalid.job_id, Reason.INVALID, invalid.detail,
                          f"{source}:{invalid.line}", invalid.record)
                )  # fmt: skip
            for t in batch.records:
                # t is a JobRecord as a tuple: (job_id, user, account, partition, submit,
                # eligible, start, end, elapsed, cores, nodes, cpu_time, memory, state,
                # exit_code, cluster, line, fingerprint)
                if t[7] < t[6] or t[9] < 0:
                    record = make(t)
                    summary.rejected += 1
                    held.append(
                        _held(machine_name, job_key(record.job_id, record.submit),
                              Reason.INVALID, _check(record),
                              f"{source}:{record.line}", record._asdict())
                    )  # fmt: skip
                    continue
                # The common case first: both names known (a dict lookup each).
                user, account = t[1], t[2]
                person = people.get(user) if user else None
                project = projects.get(account.lower()) if account else None
                if (person is None and user) or (project is None and account):
                    person, why_person = resolver.person(user)
                    project, why_project = resolver.project(account)
                    if why_person or why_project:
                        reason = Reason.UNKNOWN_PERSON if why_person else Reason.UNKNOWN_PROJECT
                        held.append(_unknown(options, machine_name, make(t), reason,
                                             why_person or why_project, source))  # fmt: skip
                        summary.quarantined += 1
                        continue
                writer.add(
                    (machine_id, t[0], user[:64], person, account[:64], project, t[3][:64],
                     t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13][:32],
                     t[14][:16], t[17])
                )  # fmt: skip
        writer.flush()
        for part in bulk.chunks(writer.imported):
            QuarantinedRecord.objects.filter(
                kind=Kind.JOB, machine_name=machine.name, key__in=part
            ).delete()
        if writer.lo is not None:
            aggregate.rebuild_jobs(writer.lo, writer.hi)
        _quarantine(held)
    return summary


def _check(record: JobRecord) -> str | None:
    if record.end < record.start:
        return f"it ends ({record.end}) before it starts ({record.start})"
    if record.cores < 0:
        return f"its core count is negative ({record.cores})"
    return None


def _row(machine: int, r: JobRecord, person: int | None, project: int | None) -> tuple:
    return (
        machine, r.job_id, r.user[:64], person, r.account[:64], project, r.partition[:64],
        r.submit, r.eligible, r.start, r.end, r.elapsed, r.cores, r.nodes, r.cpu_time,
        r.memory, r.state[:32], r.exit_code[:16], r.fingerprint,
    )  # fmt: skip


def _held(machine: str, key: str, reason: str, detail: str, source: str, record: dict):
    return QuarantinedRecord(
        kind=Kind.JOB, machine_name=machine, key=key[:128], reason=reason,
        detail=detail[:300], source=source[-300:], record=record,
    )  # fmt: skip


def _unknown(options: Options, machine: str, record: JobRecord, reason: str, why: str, source):
    where = f"{source}:{record.line}"
    if options.strict:
        raise ImportFailed(f"{where}: job {record.job_id}: {why} (--strict)")
    return _held(machine, job_key(record.job_id, record.submit), reason, why, where,
                 record._asdict())  # fmt: skip


def import_files(
    paths: Iterable[Path],
    options: Options,
    progress=None,
    actor=None,
    *,
    sources: str | None = None,
    extra_summary: dict | None = None,
) -> Summary:
    """Import each file atomically and record the run; returns the combined summary.

    The run (ImportRun) names `sources` (by default the files) and, once every file is in,
    holds the summary with `extra_summary` added (e.g. a pull's watermark)."""
    if options.format not in FORMATS:
        raise ImportFailed(f'Unknown format "{options.format}"; use one of {", ".join(FORMATS)}.')
    if options.format != "storage-csv" and not options.machine:
        raise ImportFailed("--machine NAME is needed: the machine these jobs ran on.")
    known = Machine.objects.filter(name=options.machine)
    if options.machine and not options.create_missing and not known.exists():
        raise UnknownMachine.named(options.machine)
    paths = list(paths)
    total = Summary()
    run = ImportRun.objects.create(
        format=options.format, machine_name=options.machine or "", actor=actor,
        sources=sources if sources is not None else "\n".join(str(p) for p in paths),
    )  # fmt: skip
    try:
        for path in paths:
            if options.format == "storage-csv":
                total.add(import_storage_file(path, options, progress))
            else:
                total.add(import_job_file(path, options, progress))
    except Exception as e:
        run.summary = total.as_dict() | {"error": str(e)}
        run.save(update_fields=["summary"])
        raise
    run.summary, run.finished = total.as_dict() | (extra_summary or {}), timezone.now()
    run.save(update_fields=["summary", "finished"])
    return total


# --- storage -----------------------------------------------------------------------------


def import_storage_file(path: Path, options: Options, progress=None) -> Summary:
    try:
        return _import_storage_file(path, options, progress)
    except GZIP_ERRORS as e:
        raise not_gzip(path, e) from None


def _import_storage_file(path: Path, options: Options, progress) -> Summary:
    with open_text(path, progress) as stream:
        zone = "UTC"
        if options.machine:
            zone = (
                Machine.objects.filter(name=options.machine)
                .values_list("time_zone", flat=True)
                .first()
                or "UTC"
            )
        return import_snapshots(storage.parse(stream, str(path), zone), options, str(path))


def import_snapshots(snapshots: Iterable, options: Options, source: str) -> Summary:
    """Storage snapshots into the ledger, atomically; unknown names are quarantined."""
    summary = Summary()
    with transaction.atomic():
        machine = find_machine(options.machine, options, summary) if options.machine else None
        resolver = Resolver(machine, options, summary)
        resources = Resource.objects.filter(pool__metric=Metric.BYTES)
        if machine is not None:
            resources = resources.filter(machine=machine)
        by_name: dict[str, list[int]] = {}
        for pk, name in resources.values_list("pk", "name"):
            by_name.setdefault(name, []).append(pk)
        rows: dict[tuple[int, str, int], tuple] = {}
        held: list[QuarantinedRecord] = []
        imported: list[str] = []
        for snap in snapshots:
            summary.read += 1
            where = f"{source}:{snap.line}"
            key = f"{snap.filesystem}|{snap.project}|{snap.person}|{snap.timestamp}"
            record = snap._asdict()
            matches = by_name.get(snap.filesystem, [])
            if len(matches) != 1:
                why = (
                    f'no storage resource "{snap.filesystem}"'
                    if not matches
                    else f'"{snap.filesystem}" names {len(matches)} storage resources; '
                    "give --machine"
                )
                held.append(
                    _held_storage(options, key, Reason.UNKNOWN_RESOURCE, why, where, record)
                )
                summary.quarantined += 1
                continue
            project, why_project = resolver.project(snap.project)
            person, why_person = resolver.person(snap.person)
            if why_project or why_person:
                reason = Reason.UNKNOWN_PROJECT if why_project else Reason.UNKNOWN_PERSON
                held.append(
                    _held_storage(options, key, reason, why_project or why_person, where, record)
                )
                summary.quarantined += 1
                continue
            scope = f"{project or ''}:{person or ''}"
            rows[(matches[0], scope, snap.timestamp)] = (
                matches[0], project, person, scope, snap.bytes, snap.timestamp,
            )  # fmt: skip
            imported.append(key)
        _write_snapshots(rows, summary)
        for part in bulk.chunks(imported):
            QuarantinedRecord.objects.filter(kind=Kind.STORAGE, key__in=part).delete()
        _quarantine(held)
    return summary


def _held_storage(options, key, reason, why, where, record):
    if options.strict:
        raise ImportFailed(f"{where}: {why} (--strict)")
    held = _held(options.machine or "", key, reason, why, where, record)
    held.kind = Kind.STORAGE
    return held


def _write_snapshots(rows: dict, summary: Summary) -> None:
    if not rows:
        return
    resources = sorted({key[0] for key in rows})
    stamps = [key[2] for key in rows]
    lo, hi = min(stamps), max(stamps)
    existing = {
        (r, scope, ts): (pk, size)
        for pk, r, scope, ts, size in StorageSnapshot.objects.filter(
            resource_id__in=resources, timestamp__gte=lo, timestamp__lte=hi
        ).values_list("pk", "resource_id", "scope", "timestamp", "bytes")
    }
    new, changed = [], []
    for key, row in rows.items():
        found = existing.get(key)
        if found is None:
            new.append(row)
        elif found[1] != row[4]:
            changed.append((row[4], found[0]))
        else:
            summary.unchanged += 1
    columns = ("resource_id", "project_id", "person_id", "scope", "bytes", "timestamp")
    bulk.insert(StorageSnapshot._meta.db_table, columns, new)
    bulk.executemany(
        f"UPDATE {StorageSnapshot._meta.db_table} SET bytes = %s WHERE id = %s", changed
    )
    summary.new += len(new)
    summary.updated += len(changed)
    if new or changed:
        aggregate.rebuild_storage(lo, hi, resources)


# --- requeue -----------------------------------------------------------------------------


def requeue() -> Summary:
    """Retry every quarantined record now that the names it needed may exist."""
    total = Summary()
    groups: dict[tuple[str, str], list[QuarantinedRecord]] = {}
    for held in QuarantinedRecord.objects.exclude(reason=Reason.INVALID).order_by("pk"):
        groups.setdefault((held.kind, held.machine_name), []).append(held)
    for (kind, machine_name), held in groups.items():
        with transaction.atomic():
            if kind == Kind.JOB:
                total.add(_requeue_jobs(machine_name, held))
            else:
                total.add(_requeue_storage(machine_name, held))
    return total


def _requeue_jobs(machine_name: str, held: list[QuarantinedRecord]) -> Summary:
    summary = Summary(read=len(held))
    machine = Machine.objects.filter(name=machine_name).first()
    if machine is None:
        summary.quarantined = len(held)
        return summary
    options = Options(format="requeue", machine=machine_name)
    resolver = Resolver(machine, options, summary)
    known = known_jobs(machine, (str(h.record.get("job_id")) for h in held))
    writer = JobWriter(machine, summary, known)
    done = []
    for item in held:
        record = JobRecord(**{k: v for k, v in item.record.items() if not k.startswith("_")})
        # Quarantined for an unknown machine by earlier versions (read as UTC for want of
        # the machine's zone): read again in the zone of the machine created since.
        read_in = item.record.get("_local_times_read_in")
        if read_in and read_in != machine.time_zone:
            record = _relocalise(record, read_in, machine.time_zone)
        person, why_person = resolver.person(record.user)
        project, why_project = resolver.project(record.account)
        if why_person or why_project:
            reason = Reason.UNKNOWN_PERSON if why_person else Reason.UNKNOWN_PROJECT
            if (item.reason, item.detail) != (reason, why_person or why_project):
                item.reason, item.detail = reason, why_person or why_project
                item.save(update_fields=["reason", "detail"])
            summary.quarantined += 1
            continue
        writer.add(_row(machine.pk, record, person, project))
        done.append(item.pk)
    writer.flush()
    for part in bulk.chunks(done):
        QuarantinedRecord.objects.filter(pk__in=part).delete()
    if writer.lo is not None:
        aggregate.rebuild_jobs(writer.lo, writer.hi)
    return summary


def _relocalise(record: JobRecord, read_in: str, zone: str) -> JobRecord:
    """Times parsed as local times of `read_in`, read again as local times of `zone`."""
    import zoneinfo
    from datetime import datetime

    was, now = zoneinfo.ZoneInfo(read_in), zoneinfo.ZoneInfo(zone)

    def again(ts: int | None) -> int | None:
        if ts is None:
            return None
        local = datetime.fromtimestamp(ts, was).replace(tzinfo=None)
        return int(local.replace(tzinfo=now).timestamp())

    return record._replace(
        submit=again(record.submit), eligible=again(record.eligible),
        start=again(record.start), end=again(record.end),
    )  # fmt: skip


def _requeue_storage(machine_name: str, held: list[QuarantinedRecord]) -> Summary:
    snapshots = [storage.Snapshot(**item.record) for item in held]
    ids = [h.pk for h in held]
    for part in bulk.chunks(ids):
        QuarantinedRecord.objects.filter(pk__in=part).delete()
    options = Options(format="storage-csv", machine=machine_name or None)
    return import_snapshots(snapshots, options, "quarantine")


def quarantine_rows() -> list[dict]:
    return [
        {
            "kind": q.kind,
            "machine": q.machine_name,
            "key": q.key,
            "reason": q.reason,
            "detail": q.detail,
            "source": q.source,
            "since": q.created.isoformat(),
        }
        for q in QuarantinedRecord.objects.order_by("created", "pk")
    ]
