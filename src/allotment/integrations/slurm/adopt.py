"""Adopting an existing cluster: its accounts, users and associations into the ledger.

Accounts become projects under their parent accounts' projects (accounts directly under
Slurm's root become institutes); users become people with an account on the machine's
category (the uid from the system's user database where the user exists there, else the
next free one); associations become memberships; default accounts become default
projects. Whatever the ledger already has (same pid, ignoring case; same username) is
kept, so adopting twice adds nothing. Afterwards `allot slurm sync` plans no additions
or removals.
"""

import pwd
from collections import defaultdict

from django.conf import settings
from django.db import transaction

from allotment.core.validation import save_validated
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import add_member, create_project
from allotment.resources.models import Account

from .sacctmgr import Cluster
from .sync import _depth, observed


class _Uids:
    """Hands out uids: the system's uid for a known user, else the first uid free in both
    the ledger and the system's user database. Reads both once; remembers what it gave."""

    def __init__(self, category):
        self.taken = set(
            Account.objects.filter(
                machine_category=category, date_deleted__isnull=True
            ).values_list("uid", flat=True)
        )
        self.system: set[int] | None = None  # read on first need
        self.low, self.high = settings.ALLOTMENT_UID_RANGE
        self.next = self.low  # every uid below it is taken: taken only grows

    def __call__(self, username: str) -> int:
        try:
            uid = pwd.getpwnam(username).pw_uid
        except KeyError:
            uid = None
        if uid is None or uid in self.taken:
            uid = self._free()
        self.taken.add(uid)
        return uid

    def _free(self) -> int:
        if self.system is None:
            self.system = {p.pw_uid for p in pwd.getpwall()}
        for uid in range(self.next, self.high + 1):
            if uid not in self.taken and uid not in self.system:
                self.next = uid
                return uid
        self.next = self.high + 1
        raise ValueError(f"No free uid left in {self.low}-{self.high}.")


@transaction.atomic
def adopt(machine) -> dict[str, int]:
    have = observed(Cluster.of(machine), count_usage=False)  # no limits are adopted
    made = {"projects": 0, "people": 0, "accounts": 0, "memberships": 0}
    projects = {p.pid.lower(): p for p in Project.objects.all()}
    for name in sorted(have.accounts, key=lambda n: (_depth(n, have.accounts), n)):
        if name in projects:
            continue
        parent = have.accounts[name][0]
        projects[name] = create_project(
            name, name, parent=None if parent == "root" else projects[parent]
        )
        made["projects"] += 1
    category = machine.category
    accounts_of: dict[str, list[str]] = defaultdict(list)  # user -> their accounts, sorted
    for user, account in sorted(have.associations):
        accounts_of[user].append(account)
    members = set(ProjectMembership.objects.values_list("person_id", "project_id"))
    uids = _Uids(category)
    for user in sorted(accounts_of):
        if user == "root":
            continue
        row = (
            Account.objects.filter(
                machine_category=category, username=user, date_deleted__isnull=True
            )
            .select_related("person")
            .first()
        )
        person = row.person if row else Person.objects.filter(username=user).first()
        default = have.defaults.get(user)
        if person is None:
            home = projects[default].institute if default in projects else None
            person = Person(username=user, institute=home)
            person.set_unusable_password()
            save_validated(person, exclude=["password"])
            made["people"] += 1
        if row is None:
            row = save_validated(
                Account(person=person, machine_category=category, username=user,
                        uid=uids(user))
            )  # fmt: skip
            made["accounts"] += 1
        for account in accounts_of[user]:
            if account not in projects:
                continue
            project = projects[account]
            if (person.pk, project.pk) not in members:
                is_default = (
                    default == account
                    and not person.memberships.filter(is_default_project=True).exists()
                )
                add_member(project, person, default=is_default)
                members.add((person.pk, project.pk))
                made["memberships"] += 1
        if row.default_project_id is None and default in projects:
            row.default_project = projects[default]
            save_validated(row)
    return made
