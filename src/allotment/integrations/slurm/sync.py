"""Keeping a Slurm cluster's accounts, users and associations equal to the ledger.

Desired state comes from the ledger: an account per active project (its parent project's
account as parent, so the project tree is the association tree; `root` above the
institutes; Organization = the institute), a user per live account on the machine's
category (of a person who is active, not locked and not past their expiry date) with an
association per membership, the default project as default account.
Observed state comes from `sacctmgr -n -P`. The plan is the fewest commands that make one
equal to the other: every addition in one `sacctmgr load` of a generated file (one
commit, however large), then modifications and removals grouped so that one command
covers every name it can. A second sync with nothing changed plans nothing.

Several clusters may share one slurmdbd, each synced from its own machine. Accounts and
users are global in Slurm, associations and default accounts are per cluster: every
query and command that can name the cluster does, so one cluster's sync never changes
another's associations or defaults.

Names are lower case, as Slurm stores them. Slurm's own `root` account and `root` user are
never touched. Accounts and associations the ledger does not know are removed: adopt an
existing cluster with `allot slurm import` first.
"""

import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from allotment.people.models import Person, unexpired
from allotment.projects.models import Project, ProjectMembership
from allotment.resources.models import Account

from .sacctmgr import Cluster

PROTECTED_ACCOUNTS = {"root"}
PROTECTED_USERS = {"root"}


def slurm_name(text: str) -> str:
    return text.lower()


@dataclass
class State:
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (parent, org)
    associations: set[tuple[str, str]] = field(default_factory=set)  # (user, account)
    defaults: dict[str, str] = field(default_factory=dict)  # user -> default account
    limits: dict[str, int] = field(default_factory=dict)  # account -> GrpTRESMins cpu
    used_minutes: dict[str, int] = field(default_factory=dict)  # observed: Slurm's count
    users: set[str] = field(default_factory=set)  # observed: users Slurm has, any cluster


@dataclass
class Plan:
    cluster: str
    load: str = ""  # a `sacctmgr load` file with every addition, or ""
    commands: list[str] = field(default_factory=list)  # modifications and removals, in order

    @property
    def empty(self) -> bool:
        return not self.load and not self.commands

    def all_commands(self) -> list[str]:
        return (["load file=<plan>"] if self.load else []) + self.commands

    def as_dict(self) -> dict:
        return {"cluster": self.cluster, "commands": self.all_commands(), "load": self.load}


def desired(machine) -> State:
    state = State()
    projects = {
        p.pk: p
        for p in Project.objects.filter(is_active=True).only(
            "pk", "pid", "parent_id", "allocation_mode"
        )
    }
    institute: dict[int, int] = {}

    def root_of(pk: int) -> int:
        if pk not in institute:
            parent = projects[pk].parent_id
            institute[pk] = pk if parent is None or parent not in projects else root_of(parent)
        return institute[pk]

    for pk, project in projects.items():
        parent = projects.get(project.parent_id)
        state.accounts[slurm_name(project.pid)] = (
            slurm_name(parent.pid) if parent else "root",
            slurm_name(projects[root_of(pk)].pid),
        )
    accounts = Account.objects.filter(
        machine_category_id=machine.category_id,
        date_deleted__isnull=True,
        login_enabled=True,
        person__is_active=True,
        person__is_locked=False,
        # Past their expiry date a person is treated as locked: their associations go.
        person__in=Person.objects.filter(unexpired()).values("pk"),
    ).select_related("default_project")
    by_person = {a.person_id: a for a in accounts}
    member_of: dict[str, list[str]] = defaultdict(list)
    # Subqueries, not lists of ids: SQLite takes seconds over IN lists of 10,000 ids.
    for person, project in ProjectMembership.objects.filter(
        person_id__in=accounts.values("person_id"), project__is_active=True
    ).values_list("person_id", "project_id"):
        if person not in by_person or project not in projects:
            continue  # (changed between the queries)
        user = slurm_name(by_person[person].username)
        name = slurm_name(projects[project].pid)
        state.associations.add((user, name))
        member_of[user].append(name)
    for account in by_person.values():
        user = slurm_name(account.username)
        if not member_of.get(user):
            continue
        wanted = account.default_project
        name = slurm_name(wanted.pid) if wanted is not None else None
        state.defaults[user] = name if name in member_of[user] else sorted(member_of[user])[0]
    state.limits = remaining_minutes(machine, projects)
    return state


def remaining_minutes(machine, projects: dict, today=None) -> dict[str, int]:
    """What each project may still use on this machine, in its raw CPU minutes.

    For a project's CPU pool in the period covering today: the remaining allocation, split
    between the machines feeding the pool by their share of its capacity (quantity x
    scaling), in this machine's raw minutes. A project that has had a pool for this machine
    but has none covering today may use nothing more. Projects that never had a pool, or
    draw on no pool, are not limited.

    Slurm applies an account's limit to all accounts below it, so a limit is set only where
    that matches the ledger's charging: on projects without sub-projects, on shared
    projects (their subtree draws on their pool), and on capped projects (their
    sub-projects draw on their pool up to their caps). A sub-project of a capped project
    that has no pool of its own and no sub-projects may draw its cap's remainder, at most
    what is left in the parent's pool; without a cap it may draw nothing. Private projects
    with sub-projects are not limited: Slurm would count the sub-projects' usage, which
    their own pools pay for, against the parent.
    """
    from datetime import date

    from allotment.grants.models import AllocationCap, AllocationPool
    from allotment.grants.services import summarise
    from allotment.projects.models import AllocationMode
    from allotment.resources.models import Metric, Resource
    from allotment.usage.models import Charge, DailyUsage

    today = today or date.today()
    has_children = {p.parent_id for p in projects.values() if p.parent_id}
    limitable = {
        pk for pk, p in projects.items()
        if pk not in has_children
        or p.allocation_mode in (AllocationMode.SHARED, AllocationMode.CAPPED)
    }  # fmt: skip
    capped = {pk for pk, p in projects.items() if p.allocation_mode == AllocationMode.CAPPED}
    found: dict[str, int] = {}
    mine = Resource.objects.filter(machine=machine, pool__metric=Metric.CORE_SECONDS)
    for pool_id in mine.values_list("pool_id", flat=True).distinct():
        resources = list(Resource.objects.filter(pool_id=pool_id).select_related("pool"))
        total = sum(r.quantity * r.scaling_factor for r in resources)
        here = [r for r in resources if r.machine_id == machine.pk and r.scaling_factor]
        if not total or not here:
            continue
        unit = resources[0].pool.unit_size

        def minutes_of(left, here=here, total=total, unit=unit) -> int:
            """Pool units left -> this machine's share of them, in its raw CPU minutes: each
            resource's share (quantity x scaling / total) of the base units left, divided by
            its scaling, which leaves quantity / total of them."""
            base = max(left, 0) * unit
            return int(base * sum(r.quantity for r in here) / total // 60)

        pools = AllocationPool.objects.filter(resource_pool_id=pool_id, project_id__in=limitable)
        ever = set(pools.values_list("project_id", flat=True))
        for pk in ever:
            found.setdefault(slurm_name(projects[pk].pid), 0)  # limited from now on
        current = summarise(pools.filter(period__start__lte=today, period__end__gte=today))
        for summary in current:
            found[slurm_name(summary.project)] += minutes_of(summary.remaining)
        # Leaf sub-projects of capped projects without a pool of their own today draw on
        # the parent's pool (once the parent has had one, they are limited from then on).
        pid_of = {p.pid: pk for pk, p in projects.items()}
        own_today = {pid_of.get(s.project) for s in current}
        parent_pool = {pid_of[s.project]: s for s in current if pid_of.get(s.project) in capped}
        drawers = [
            pk for pk, p in projects.items()
            if p.parent_id in capped and p.parent_id in ever
            and pk not in has_children and pk not in own_today
        ]  # fmt: skip
        if not drawers:
            continue
        caps = dict(
            AllocationCap.objects.filter(
                project_id__in=drawers, resource_pool_id=pool_id
            ).values_list("project_id", "quantity")
        )
        drawn_rows = DailyUsage.objects.filter(
            submitted_project_id__in=drawers,
            allocation_pool_id__in=[s.pool_id for s in parent_pool.values()],
            charge=Charge.CHARGED,
        ).values_list("submitted_project_id", "used")
        drawn: dict[int, Decimal] = defaultdict(Decimal)
        for project, used in drawn_rows:
            drawn[project] += Decimal(used or 0) / unit
        for pk in drawers:
            parent = parent_pool.get(projects[pk].parent_id)
            left = 0
            if parent is not None:
                left = min(caps.get(pk, Decimal(0)) - drawn[pk], parent.remaining)
            name = slurm_name(projects[pk].pid)
            found[name] = found.get(name, 0) + minutes_of(left)
    return found


def feeds_cpu_pool(machine) -> bool:
    """Whether the machine's jobs are charged to a CPU pool, so its accounts may be limited
    and the sync needs Slurm's usage count."""
    from allotment.resources.models import Metric, Resource

    return Resource.objects.filter(machine=machine, pool__metric=Metric.CORE_SECONDS).exists()


def observed(cluster: Cluster, while_waiting=None, count_usage: bool = True) -> State:
    """The cluster's state; `while_waiting()` runs while the queries do.

    Slurm's usage count (`used_minutes`) comes from sshare, which asks the cluster's
    slurmctld; everything else comes from slurmdbd. Without `count_usage` slurmctld is
    not asked, so a cluster whose controller is elsewhere or down can still be read.

    The queries run side by side (each sacctmgr mostly waits on slurmdbd), and each asks
    for no more than the sync needs, which keeps slurmdbd's work per query small:

    - `WOPLimits` leaves out the limits associations inherit from their parents (Max*
      and QOS; slurmdbd computes them with a query per parent). GrpTRESMins is never
      inherited, so an account's own limit reads the same either way.
    - `WOPInfo` leaves out parent names, so slurmdbd skips building the hierarchy; the
      parents come from the listing of the accounts' own associations (`user=`).
    - Default accounts come from this cluster's default associations (`OnlyDefaults`):
      a user has one per cluster. `list user format=DefaultAccount` costs slurmdbd a
      query per user; without `cluster=` it also prints the first cluster's default, so
      two clusters' syncs would each "correct" the other's.
    - `list user format=User` names every user Slurm has on any cluster (`users`), which
      the plan needs: a `load` file's DefaultAccount changes an existing user's default
      everywhere.
    """
    state = State()
    here = f"cluster={cluster.name}"
    accounts = cluster.start_rows("list", "account", "format=Account,Org")
    tree = cluster.start_rows(
        "show", "assoc", "where", here, "user=", "format=Account,User,ParentName,GrpTRESMins",
        "WOPLimits",
    )  # fmt: skip
    assocs = cluster.start_rows(
        "show", "assoc", "where", here, "format=Account,User", "WOPLimits", "WOPInfo"
    )
    defaults = cluster.start_rows(
        "show", "assoc", "where", here, "format=Account,User", "OnlyDefaults", "WOPLimits",
        "WOPInfo",
    )  # fmt: skip
    users = cluster.start_rows("list", "user", "format=User")
    usage = cluster.start_sshare() if count_usage else None
    if while_waiting is not None:
        while_waiting()
    orgs = {row[0]: row[1] for row in accounts.rows()}
    for account, user, parent, tres in tree.rows():
        if not user and account not in PROTECTED_ACCOUNTS:  # (`user=` already asks that)
            state.accounts[account] = (parent, orgs.get(account, ""))
            cpu = _cpu(tres)
            if cpu is not None:
                state.limits[account] = cpu
    for account, user in assocs.rows():
        if user:
            state.associations.add((user, account))
    for account, user in defaults.rows():
        if user:
            state.defaults[user] = account
    state.users = {row[0] for row in users.rows()}
    for row in usage.rows() if usage else ():
        if len(row) == 3 and not row[1].strip():  # an account's row (sshare also prints a
            state.used_minutes[row[0].strip()] = _cpu(row[2]) or 0  # "CLUSTER:" heading)
    return state


def _cpu(tres: str) -> int | None:
    """The cpu count of a TRES string (cpu=120,mem=...), None when not set."""
    for part in tres.split(","):
        if part.startswith("cpu="):
            return int(part[4:])
    return None


def _depth(name: str, accounts: dict[str, tuple[str, str]]) -> int:
    depth, seen = 0, set()
    while name in accounts and name not in seen:
        seen.add(name)
        name = accounts[name][0]
        depth += 1
    return depth


def _tree_order(accounts: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Each account's place in a depth-first walk of the tree from `root`, children by
    name: every parent comes before its children, and a load in this order is cheap for
    slurmdbd. Slurm 22.05 keeps associations as a nested set (lft/rgt): each group of
    additions under one parent shifts every association to the right of that parent, so
    groups taken left to right shift only what is not filled yet. (1,000 projects x 10
    members from empty: the load took 36 s this way, 55 s by depth, then name.)"""
    children: dict[str, list[str]] = defaultdict(list)
    for name, (parent, _) in accounts.items():
        children[parent if parent in accounts else "root"].append(name)
    order: dict[str, int] = {"root": -1}
    stack = sorted(children["root"], reverse=True)
    while stack:
        name = stack.pop()
        if name in order:
            continue
        order[name] = len(order)
        stack.extend(sorted(children.get(name, ()), reverse=True))
    return order


def plan(want: State, have: State, cluster: str) -> Plan:
    """The fewest commands turning `have` into `want` (a pure function, so it is tested
    without a cluster)."""
    result = Plan(cluster)
    where = f"cluster={cluster}"
    # Additions: one load file, parents before children. Only users Slurm does not know
    # at all get their default there: for a user it has (on this cluster or another), the
    # load's DefaultAccount is applied on every cluster; theirs is set per cluster below.
    new_accounts = {n: v for n, v in want.accounts.items() if n not in have.accounts}
    new_assocs = sorted(want.associations - have.associations - _protected(want))
    known = have.users | {u for u, _ in have.associations}
    new_users = {u for u, _ in new_assocs} - known
    if new_accounts or new_assocs:
        lines = [f"Cluster - '{cluster}'"]
        children: dict[str, list[str]] = defaultdict(list)
        for name, (parent, _) in new_accounts.items():
            children[parent].append(name)
        users_of: dict[str, list[str]] = defaultdict(list)
        for user, account in new_assocs:
            users_of[account].append(user)
        order = _tree_order(want.accounts)
        parents = sorted(
            set(children) | set(users_of),
            key=lambda n: (order.get(n, len(order)), _depth(n, want.accounts), n),
        )
        for parent in parents:
            lines.append(f"Parent - '{parent}'")
            for name in sorted(children.get(parent, [])):
                org = want.accounts[name][1]
                limit = f":GrpTRESMins='cpu={want.limits[name]}'" if name in want.limits else ""
                lines.append(f"Account - '{name}':Description='{name}':Organization='{org}'{limit}")
            for user in sorted(users_of.get(parent, [])):
                if user in new_users:
                    default = want.defaults.get(user, parent)
                    lines.append(f"User - '{user}':DefaultAccount='{default}'")
                else:
                    lines.append(f"User - '{user}'")
        result.load = "\n".join(lines) + "\n"
    # Moves and organization changes of existing accounts, grouped by what they become.
    moves: dict[str, list[str]] = defaultdict(list)
    orgs: dict[str, list[str]] = defaultdict(list)
    for name, (parent, org) in sorted(want.accounts.items()):
        if name in have.accounts:
            if have.accounts[name][0] != parent:
                moves[parent].append(name)
            if have.accounts[name][1] != org:
                orgs[org].append(name)
    for parent, group in sorted(moves.items()):
        for names in _chunks(group):
            result.commands.append(f"modify account where name={','.join(names)} {where} "
                                   f"set parent={parent}")  # fmt: skip
    for org, group in sorted(orgs.items()):
        for names in _chunks(group):
            result.commands.append(f"modify account where name={','.join(names)} "
                                   f"set organization={org}")  # fmt: skip
    # Limits of existing accounts (new ones got theirs in the load file: changing what the
    # same sync added races in slurmdbd and can leave slurmctld's cache stale), grouped by
    # value; a limit no longer wanted is cleared with -1.
    limits: dict[int, list[str]] = defaultdict(list)
    for name in sorted(set(want.limits) | set(have.limits)):
        value = want.limits.get(name, -1)
        if name in have.accounts and name in want.accounts and have.limits.get(name, -1) != value:
            limits[value].append(name)
    for value, group in sorted(limits.items()):
        for names in _chunks(group):
            result.commands.append(f"modify account where name={','.join(names)} {where} "
                                   f"set GrpTRESMins=cpu={value}")  # fmt: skip
    # Default accounts on this cluster (users new to Slurm got theirs in the load file).
    defaults: dict[str, list[str]] = defaultdict(list)
    for user, default in sorted(want.defaults.items()):
        if (
            user not in new_users
            and user not in PROTECTED_USERS
            and have.defaults.get(user) != default
        ):
            defaults[default].append(user)
    for default, group in sorted(defaults.items()):
        for users in _chunks(group):
            result.commands.append(f"modify user where name={','.join(users)} {where} "
                                   f"set defaultaccount={default}")  # fmt: skip
    # Removals: associations grouped by account (those of accounts about to go, go with
    # them), then users leaving this cluster, then accounts, children first.
    # Slurm refuses a removal that takes a user's default association together with
    # another of theirs on the same cluster ("You can not remove the default account of a
    # user"), but removes a default association left alone, and the user with it when it
    # was their last one anywhere. So a user leaving this cluster first loses every
    # association but the default (grouped by account with the others), then the default
    # with `remove user where name=... cluster=...`; other clusters keep theirs.
    stale = [n for n in have.accounts if n not in want.accounts and n not in PROTECTED_ACCOUNTS]
    leaving = sorted(
        {u for u, _ in have.associations} - {u for u, _ in want.associations} - PROTECTED_USERS
    )
    gone: dict[str, list[str]] = defaultdict(list)
    for user, account in sorted(have.associations - want.associations):
        if user not in PROTECTED_USERS and account not in stale and user not in leaving:
            gone[account].append(user)
    for user in leaving:
        theirs = sorted(a for u, a in have.associations if u == user)
        last = have.defaults.get(user) if have.defaults.get(user) in theirs else theirs[0]
        for account in theirs:
            if account != last:
                gone[account].append(user)
    for account, group in sorted(gone.items()):
        for users in _chunks(sorted(group)):
            result.commands.append(f"remove user where name={','.join(users)} account={account} "
                                   f"{where}")  # fmt: skip
    for users in _chunks(leaving):
        result.commands.append(f"remove user where name={','.join(users)} {where}")
    by_depth: dict[int, list[str]] = defaultdict(list)
    for name in stale:
        by_depth[_depth(name, have.accounts)].append(name)
    for depth in sorted(by_depth, reverse=True):
        for names in _chunks(sorted(by_depth[depth])):
            result.commands.append(f"remove account where name={','.join(names)} "
                                   f"{where}")  # fmt: skip
    return result


# One argument to exec() may hold at most 128 KiB (MAX_ARG_STRLEN); a site-wide change
# (every account's limit at a period boundary) can name more, so groups are cut well below.
NAMES_PER_ARGUMENT = 32_000


def _chunks(names: list[str], limit: int = NAMES_PER_ARGUMENT) -> list[list[str]]:
    """Names cut into runs whose comma-joined length stays under `limit` characters."""
    runs: list[list[str]] = []
    size = limit
    for name in names:
        if size + len(name) + 1 > limit:
            runs.append([])
            size = 0
        runs[-1].append(name)
        size += len(name) + 1
    return runs


def _protected(state: State) -> set[tuple[str, str]]:
    return {a for a in state.associations if a[0] in PROTECTED_USERS}


@dataclass
class Outcome:
    plan: Plan
    applied: list[str] = field(default_factory=list)
    deferred: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return self.plan.as_dict() | {
            "applied": self.applied, "deferred": self.deferred, "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }  # fmt: skip


BLOCKED = re.compile(r"job\(s\) (active|running)|cancel job", re.IGNORECASE)
# A leaving user's default association goes last, alone; it is refused while another of
# their associations stays, which happens when that one's removal was just deferred.
DEFAULT_KEPT = re.compile(r"can ?not remove the default account", re.IGNORECASE)


def sync(machine, dry_run: bool = False) -> Outcome:
    """Plan (and unless dry_run, apply) the commands making the cluster equal the ledger.

    A removal Slurm refuses because jobs still run is deferred, not an error: the next
    sync plans it again."""
    began = time.monotonic()
    cluster = Cluster.of(machine)
    want: list[State] = []
    have = observed(
        cluster,
        while_waiting=lambda: want.append(desired(machine)),
        count_usage=feeds_cpu_pool(machine),
    )
    # The limit is what Slurm has counted so far plus what the ledger says remains.
    want[0].limits = {
        name: have.used_minutes.get(name, 0) + left for name, left in want[0].limits.items()
    }
    outcome = Outcome(plan(want[0], have, cluster.name))
    if dry_run or outcome.plan.empty:
        outcome.seconds = time.monotonic() - began
        return outcome
    if outcome.plan.load:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
            f.write(outcome.plan.load)
        try:
            code, text = cluster.attempt("sacctmgr", "-i", "load", f"file={f.name}")
        finally:
            Path(f.name).unlink(missing_ok=True)
        if code == 0:
            outcome.applied.append("load file=<plan>")
        else:  # the modifications and removals below do not depend on the additions
            outcome.failed.append({"command": "load file=<plan>", "reason": text[-300:]})
    for command in outcome.plan.commands:
        _apply(cluster, command, outcome)
    outcome.seconds = time.monotonic() - began
    return outcome


NAMES = re.compile(r"name=([^ ]+)")


def _apply(cluster: Cluster, command: str, outcome: Outcome) -> None:
    code, text = cluster.attempt("sacctmgr", "-i", *_split(command))
    blocked = BLOCKED.search(text) or (DEFAULT_KEPT.search(text) and _deferred_names(outcome))
    if command.startswith("remove") and blocked:
        names = NAMES.search(command).group(1).split(",")
        if len(names) > 1:
            # Slurm refuses the whole group for one name's running jobs: try each alone.
            for name in names:
                _apply(cluster, NAMES.sub(f"name={name}", command, count=1), outcome)
            return
        if BLOCKED.search(text) or names[0] in _deferred_names(outcome):
            outcome.deferred.append({"command": command, "reason": text[-300:]})
        else:
            outcome.failed.append({"command": command, "reason": text[-300:]})
    elif code != 0:
        outcome.failed.append({"command": command, "reason": text[-300:]})
    else:
        outcome.applied.append(command)


def _deferred_names(outcome: Outcome) -> set[str]:
    """The users (or accounts) named by the removals deferred so far in this sync."""
    return {
        name for d in outcome.deferred for name in NAMES.search(d["command"]).group(1).split(",")
    }


def _split(command: str) -> list[str]:
    return command.split(" ")
