"""Slurm sync benchmark: 1,000 projects x 10 members against the real slurmdbd.

    .venv/bin/python bench/slurm_sync.py    (as root; wipes the local cluster before and after)

Builds a ledger of 10 institutes, 1,000 projects and 10,000 people (each project with 10
members who hold accounts), starts `allot dev slurm` fresh, then times a sync from empty
(target <= 60 s) and a sync with nothing to change (target <= 5 s).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_environment


def worker() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()
    from allotment.core.validation import save_validated
    from allotment.integrations.slurm import devcluster
    from allotment.integrations.slurm.sync import sync
    from allotment.people.models import Person
    from allotment.projects.models import Project, ProjectMembership
    from allotment.projects.services import create_project
    from allotment.resources.models import Account, Machine, MachineCategory

    category = MachineCategory.objects.create(name="default")
    machine = save_validated(Machine(name="brecca", category=category))
    institutes = [create_project(f"Inst{i}", f"Institute {i}") for i in range(10)]
    began = time.perf_counter()
    projects = []
    for n in range(1000):
        projects.append(create_project(f"P{n:04d}", f"Project {n}", parent=institutes[n % 10]))
    people = Person.objects.bulk_create(
        Person(username=f"user{n:05d}", password="!", institute=institutes[n % 10])
        for n in range(10000)
    )
    Account.objects.bulk_create(
        Account(person=p, machine_category=category, username=p.username, uid=20000 + i)
        for i, p in enumerate(people)
    )
    ProjectMembership.objects.bulk_create(
        ProjectMembership(person=people[n * 10 + k], project=projects[n],
                          is_default_project=True)
        for n in range(1000) for k in range(10)
    )  # fmt: skip
    built = time.perf_counter() - began
    devcluster.up(fresh=True, log=lambda *_: None)
    machine.refresh_from_db()
    first = sync(machine)
    second = sync(machine)
    third = sync(machine, dry_run=True)
    devcluster.wipe(log=lambda *_: None)  # leave no 10,000 users behind for the tests
    print(json.dumps({
        "projects": Project.objects.count(), "people": len(people), "built_s": built,
        "first_s": first.seconds, "first_commands": len(first.plan.all_commands()),
        "first_failed": first.failed, "second_s": second.seconds,
        "second_commands": len(second.plan.all_commands()), "third_empty": third.plan.empty,
    }))  # fmt: skip


def main() -> None:
    if "--worker" in sys.argv:
        return worker()
    if os.geteuid() != 0:
        sys.exit("Run as root: the local Slurm cluster's daemons run as root.")
    env = fresh_environment("sqlite")
    out = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True,
                         text=True)  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"worker failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"ledger: {r['projects']:,} projects, {r['people']:,} people with accounts "
        f"(built in {r['built_s']:.0f} s)"
    )
    print(
        f"sync from empty:   {r['first_s']:6.2f} s, {r['first_commands']} sacctmgr command(s)"
        f"{'  FAILED: ' + str(r['first_failed']) if r['first_failed'] else ''}"
    )
    print(f"sync, no change:   {r['second_s']:6.2f} s, {r['second_commands']} command(s); "
          f"a third plan is {'empty' if r['third_empty'] else 'NOT empty'}")  # fmt: skip


if __name__ == "__main__":
    main()
