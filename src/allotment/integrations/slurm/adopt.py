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

from django.conf import settings
from django.db import transaction

from allotment.core.validation import save_validated
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import add_member, create_project
from allotment.resources.models import Account

from .sacctmgr import Cluster
from .sync import _depth, observed


def _uid(username: str, category) -> int:
    """The system's uid for a known user; else the first uid free in both the ledger and
    the system's user database."""
    taken = set(
        Account.objects.filter(machine_category=category, date_deleted__isnull=True).values_list(
            "uid", flat=True
        )
    )
    try:
        uid = pwd.getpwnam(username).pw_uid
        if uid not in taken:
            return uid
    except KeyError:
        pass
    low, high = settings.ALLOTMENT_UID_RANGE
    system = {p.pw_uid for p in pwd.getpwall()}
    for uid in range(low, high + 1):
        if uid not in taken and uid not in system:
            return uid
    raise ValueError(f"No free uid left in {low}-{high}.")


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
    for user in sorted({u for u, _ in have.associations}):
        if user == "root":
            continue
        known = Account.objects.filter(
            machine_category=category, username=user, date_deleted__isnull=True
        ).first()
        person = known.person if known else Person.objects.filter(username=user).first()
        if person is None:
            default = have.defaults.get(user)
            home = projects[default].institute if default in projects else None
            person = Person(username=user, institute=home)
            person.set_unusable_password()
            save_validated(person, exclude=["password"])
            made["people"] += 1
        if not Account.objects.filter(
            machine_category=category, username=user, date_deleted__isnull=True
        ).exists():
            save_validated(
                Account(person=person, machine_category=category, username=user,
                        uid=_uid(user, category))
            )  # fmt: skip
            made["accounts"] += 1
        for member, account in sorted(have.associations):
            if member != user or account not in projects:
                continue
            project = projects[account]
            if not ProjectMembership.objects.filter(person=person, project=project).exists():
                default = (
                    have.defaults.get(user) == account
                    and not person.memberships.filter(is_default_project=True).exists()
                )
                add_member(project, person, default=default)
                made["memberships"] += 1
        account_row = Account.objects.get(
            machine_category=category, username=user, date_deleted__isnull=True
        )
        default = have.defaults.get(user)
        if account_row.default_project is None and default in projects:
            account_row.default_project = projects[default]
            save_validated(account_row)
    return made
