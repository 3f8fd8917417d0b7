"""The example site of the Karaage 4 proposal (KEP 5), with people so no page is empty.

Names, dates, units and quantities of machines, projects, pools, the ET scheme, grants 1
and 2, period 2100 and ProjectA's allocations follow the seed exactly; resource
quantities, people, levels and accounts are chosen to look like a small real site.
"""

import hashlib
from datetime import date
from decimal import Decimal

from django.db import transaction

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationPeriod, Scheme
from allotment.grants.services import allocate, create_grant
from allotment.groups.models import Group, Software
from allotment.groups.services import add_software_user, next_free_gid
from allotment.people.models import CareerLevel, Person
from allotment.projects.models import AllocationMode, Project, ProjectLevel
from allotment.projects.services import add_member, create_project
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

HOURS_IN_2100 = 365 * 24  # 2100 is not a leap year

CAREER_LEVELS = [
    ("Undergraduate", 10),
    ("Postgraduate", 20),
    ("Postdoctoral researcher", 30),
    ("Academic staff", 40),
    ("Professional staff", 50),
]
PROJECT_LEVELS = [("Chief investigator", 10), ("Researcher", 20), ("Student", 30)]

# username, first, last, institute, career level
PEOPLE = [
    ("alice", "Alice", "Anand", "InstituteA", "Academic staff"),
    ("bob", "Bob", "Brennan", "InstituteA", "Postgraduate"),
    ("chen", "Chen", "Chow", "InstituteA", "Postdoctoral researcher"),
    ("dana", "Dana", "Doyle", "InstituteB", "Academic staff"),
    ("eve", "Eve", "Eriksen", "InstituteC", "Academic staff"),
    ("farid", "Farid", "Fakhoury", "InstituteC", "Undergraduate"),
    ("grace", "Grace", "Gupta", "InstituteC", "Professional staff"),
]

# project, person, level, leader, supervisor, default, primary contact
MEMBERSHIPS = [
    ("InstituteA", "alice", "Chief investigator", True, False, False, True),
    ("ProjectA", "alice", "Chief investigator", True, False, True, True),
    ("ProjectA", "bob", "Student", False, False, True, False),
    ("ProjectA", "chen", "Researcher", False, True, True, False),
    ("ProjectB", "bob", "Student", False, False, False, False),
    ("ProjectB", "alice", "Researcher", True, False, False, True),
    ("InstituteB", "dana", "Chief investigator", True, False, True, True),
    ("InstituteC", "eve", "Chief investigator", True, False, False, True),
    ("ProjectC", "eve", "Chief investigator", True, False, True, True),
    ("ProjectD", "eve", "Researcher", False, True, False, False),
    ("ProjectD", "farid", "Student", False, False, True, False),
    ("ProjectD", "grace", "Chief investigator", True, False, True, True),
]


def is_loaded() -> bool:
    return Project.objects.filter(pid="InstituteA").exists()


@transaction.atomic
def load() -> dict[str, int]:
    """Load the example site into an empty ledger; all or nothing."""
    for name, rank in CAREER_LEVELS:
        save_validated(CareerLevel(name=name, rank=rank))
    for name, rank in PROJECT_LEVELS:
        save_validated(ProjectLevel(name=name, rank=rank))

    category = save_validated(
        MachineCategory(name="default", description="Accounts shared by brecca and tango")
    )
    brecca = save_validated(
        Machine(
            name="brecca",
            category=category,
            kind=MachineKind.BATCH,
            description="The Slurm cluster",
            cores=256,
            nodes=4,
            start_date=date(2100, 1, 1),
        )
    )
    tango = save_validated(
        Machine(
            name="tango",
            category=category,
            kind=MachineKind.CLOUD,
            description="The OpenStack cloud; its hypervisors are faster per core",
            cores=128,
            nodes=2,
            start_date=date(2100, 1, 1),
        )
    )
    disk = save_validated(
        ResourcePool(
            name="Disk Space",
            units="KB",
            aggregation=Aggregation.MAX,
            metric=Metric.BYTES,
            unit_size=Decimal(1024),
            description="Project storage; a period's usage is its peak.",
        )
    )
    cpu = save_validated(
        ResourcePool(
            name="CPU Hours",
            units="hours",
            aggregation=Aggregation.SUM,
            metric=Metric.CORE_SECONDS,
            unit_size=Decimal(3600),
            description="Core hours of batch jobs; a period's usage is their sum.",
        )
    )
    for machine, cores, disk_kb, scaling in (
        (brecca, 256, 50_000_000_000, Decimal("1.0")),
        (tango, 128, 20_000_000_000, Decimal("1.5")),
    ):
        save_validated(
            Resource(
                machine=machine,
                pool=cpu,
                name=f"{machine.name}-cores",
                quantity=Decimal(cores * HOURS_IN_2100),
                scaling_factor=scaling,
            )
        )
        save_validated(
            Resource(
                machine=machine,
                pool=disk,
                name=f"{machine.name}-project",
                quantity=Decimal(disk_kb),
                scaling_factor=Decimal(1),
            )
        )

    projects: dict[str, Project] = {}
    tree = [
        ("InstituteA", "Institute A", None, AllocationMode.PRIVATE),
        ("InstituteB", "Institute B", None, AllocationMode.PRIVATE),
        ("InstituteC", "Institute C", None, AllocationMode.PRIVATE),
        ("ProjectA", "Project A", "InstituteA", AllocationMode.PRIVATE),
        ("ProjectB", "Project B", "InstituteA", AllocationMode.PRIVATE),
        ("ProjectC", "Project C", "InstituteC", AllocationMode.SHARED),
        ("ProjectD", "Project D", "ProjectC", AllocationMode.PRIVATE),
    ]
    for pid, name, parent, mode in tree:
        projects[pid] = create_project(
            pid,
            name,
            parent=projects.get(parent) if parent else None,
            allocation_mode=mode,
            start_date=date(2100, 1, 1),
        )

    careers = {c.name: c for c in CareerLevel.objects.all()}
    levels = {lvl.name: lvl for lvl in ProjectLevel.objects.all()}
    people: dict[str, Person] = {}
    for username, first, last, institute, career in PEOPLE:
        person = Person(
            username=username,
            first_name=first,
            last_name=last,
            institute=projects[institute],
            career_level=careers[career],
            date_approved=date(2100, 1, 1),
        )
        # The site's administrator enrolled them: their addresses count as verified.
        person.set_email(f"{username}@{institute.lower()}.example.org", verified=True)
        person.set_unusable_password()
        people[username] = save_validated(person, exclude=["password"])
    for pid, username, level, leader, supervisor, default, contact in MEMBERSHIPS:
        add_member(
            projects[pid],
            people[username],
            level=levels[level],
            leader=leader,
            supervisor=supervisor,
            default=default,
            primary_contact=contact,
            date_joined=date(2100, 1, 1),
        )

    for uid, username in enumerate(sorted(people), start=20001):
        person = people[username]
        default = person.memberships.filter(is_default_project=True).first()
        save_validated(
            Account(
                person=person,
                machine_category=category,
                username=username,
                uid=uid,
                default_project=default.project if default else None,
                date_created=date(2100, 1, 1),
            )
        )

    matlab = save_validated(Software(name="MATLAB", description="Licensed numerical computing"))
    save_validated(Group(name="matlab", gid=next_free_gid(), software=matlab))
    for username in ("alice", "chen", "farid"):
        add_software_user(matlab, people[username])

    scheme = save_validated(
        Scheme(name="ET", description="The example scheme", opened=date(2100, 1, 1))
    )
    year = (date(2100, 1, 1), date(2100, 12, 31))
    grant1 = create_grant(projects["ProjectA"], scheme, *year, awarded=year[0])
    create_grant(projects["ProjectD"], scheme, *year, awarded=year[0])
    period = save_validated(AllocationPeriod(name="2100", start=year[0], end=year[1]))
    for pool, quantities in ((disk, (100, 500)), (cpu, (10, 50))):
        for quantity in quantities:
            allocate(grant1, period, pool, Decimal(quantity))

    return {
        "projects": Project.objects.count(),
        "people": Person.objects.count(),
        "memberships": sum(p.memberships.count() for p in people.values()),
        "groups": Group.objects.count(),
        "machines": Machine.objects.count(),
    }


def ensure_admin(username: str = "admin", password: str | None = None) -> tuple[Person, str]:
    """Create (or reset) the demo's administrator and return it with its password."""
    import secrets

    password = password or secrets.token_urlsafe(12)
    person = Person.objects.filter(username=username).first()
    if person is None:
        person = Person.objects.create_superuser(username, f"{username}@example.org", password)
    else:
        person.is_staff = person.is_superuser = True
        person.is_active, person.is_locked = True, False
        person.set_password(password)
        person.save()
    return person, password


def set_people_passwords(password: str) -> list[str]:
    """Give the example people one password, so each role can be tried in the portal."""
    usernames = [username for username, *_ in PEOPLE]
    for person in Person.objects.filter(username__in=usernames):
        person.set_password(password)
        person.save(update_fields=["password"])
    return usernames


def load_usage(seed: int = 5) -> dict:
    """A few months of plausible usage for the example site, imported the normal way (as
    the generic CSV and storage CSV formats), so reports and pools show something."""
    import random
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from allotment.usage import ingest

    rng = random.Random(seed)
    who = [("alice", "ProjectA"), ("bob", "ProjectA"), ("chen", "ProjectA"), ("bob", "ProjectB"),
           ("farid", "ProjectD"), ("grace", "ProjectD"), ("eve", "ProjectC")]  # fmt: skip
    start_of_2100 = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
    with tempfile.TemporaryDirectory() as folder:
        summaries = {}
        for machine in ("brecca", "tango"):
            path = Path(folder) / f"{machine}.csv"
            with open(path, "w") as out:
                out.write("job_id,user,account,partition,submit,start,end,cores,state\n")
                for n in range(1, 121):
                    user, account = rng.choice(who)
                    submit = start_of_2100 + rng.randrange(0, 80 * 86400)
                    start = submit + rng.randrange(0, 4 * 3600)
                    end = start + rng.randrange(60, 1800)
                    cores = rng.choice([1, 1, 2])
                    out.write(f"{n},{user},{account},work,{submit},{start},{end},{cores},"
                              "COMPLETED\n")  # fmt: skip
            options = ingest.Options(format="csv", machine=machine)
            summaries[machine] = ingest.import_files([path], options).new
        path = Path(folder) / "storage.csv"
        with open(path, "w") as out:
            out.write("timestamp,filesystem,project,person,bytes\n")
            for week in range(12):
                for project, base in (("ProjectA", 300), ("ProjectD", 150)):
                    kb = base + 20 * week + rng.randrange(0, 40)
                    ts = start_of_2100 + week * 7 * 86400
                    out.write(f"{ts},brecca-project,{project},,{kb * 1024}\n")
        snapshots = ingest.import_files([path], ingest.Options(format="storage-csv")).new
    return {"jobs": sum(summaries.values()), "storage snapshots": snapshots}


INVENTORY = """\
nodes:
  - {name: "node[1-4]", site: example, rack: r1, cpus: 64, memory_mb: 256000, service: brecca,
     bmc_driver: ipmi, tags: [hpc]}
  - {name: "cnode[1-2]", site: example, rack: r2, cpus: 64, memory_mb: 512000, service: tango,
     bmc_driver: redfish, tags: [hypervisor]}
"""


def load_inventory() -> dict[str, int]:
    """The example site's bare metal: brecca's node[1-4] and tango's hypervisors cnode[1-2],
    a local provisioner and an image for each kind of service. The local engines are told
    the nodes run (their hosts are up), as the real ones would already know them."""
    from allotment.inventory import drivers
    from allotment.inventory.models import Image, Node, Provisioner
    from allotment.inventory.services import import_nodes

    save_validated(
        Provisioner(name="local", description="The demo's provisioner: deploys nothing, in 3 s")
    )
    save_validated(
        Image(
            name="brecca-compute",
            kind=MachineKind.BATCH,
            source_url="http://images.example.org/brecca-compute-2100.01.qcow2",
            checksum="sha256:" + hashlib.sha256(b"brecca-compute").hexdigest(),
        )
    )
    save_validated(
        Image(
            name="tango-hypervisor",
            kind=MachineKind.CLOUD,
            source_url="http://images.example.org/tango-hypervisor-2100.01.qcow2",
            checksum="sha256:" + hashlib.sha256(b"tango-hypervisor").hexdigest(),
        )
    )
    result = import_nodes("example-inventory.yaml", INVENTORY)
    for node in Node.objects.filter(service__isnull=False).select_related("service"):
        drivers.service(node.service).start(node.name)
    for rack, names in (("r1", ["node1", "node2", "node3", "node4"]), ("r2", ["cnode1", "cnode2"])):
        for unit, name in enumerate(names):
            Node.objects.filter(name=name, rack=rack).update(rack_unit=unit * 2 + 1)
    return {"nodes": len(result.created)}


# The example site's bursting: brecca's partition `burst` (nodes burst[1-8]) bursts into a
# local cloud (the embedded demo's), tango (OpenStack) and an EC2 region; the last two are
# off until `allot dev openstack up` / `allot dev ec2 up` run them on loopback.
BURST_NODES = "burst[1-16]"  # the loopback Slurm declares burst[1-8]: `dev slurm up` says so
BURST_CLOUDS = (
    # name, driver, priority, price per core-hour, enabled, options
    ("nebula", "local", 1, Decimal("0.010"), True,
     {"boot_seconds": 5, "quota": {"instances": 6, "cores": 12, "ram_mb": 12000}}),
    ("tango", "openstack", 2, Decimal("0.020"), False, {"cloud": "tango-burst"}),
    ("ec2-east", "ec2", 3, Decimal("0.045"), False,
     {"region": "us-east-1", "profile": "moto", "instance_types": ["t3.small", "t3.medium"]}),
)  # fmt: skip
DEMO_JOBS = (("projecta", 1, 90, 3), ("projectb", 2, 60, 2), ("projecta", 1, 150, 1))


def load_burst(jobs: bool = True) -> dict[str, int]:
    """The clouds brecca bursts into, a VM-hours pool with this year's allocations (burst
    runs now, not in 2100), and, with the local batch system, a few queued jobs."""
    from allotment.burst.local import DEFAULT_IMAGE, DEFAULT_IMAGE_DATA, image_checksum
    from allotment.burst.models import Cloud
    from allotment.inventory.models import Image

    today = date.today()
    brecca = Machine.objects.get(name="brecca")
    options = dict(brecca.engine_options or {})
    options["burst"] = {"partitions": ["burst"], "nodes": BURST_NODES}
    brecca.engine_options = options
    brecca.save()
    category = brecca.category
    vm_hours = save_validated(
        ResourcePool(
            name="Cloud VM Hours",
            units="VM hours",
            aggregation=Aggregation.SUM,
            metric=Metric.VM_SECONDS,
            unit_size=Decimal(3600),
            description="Hours of burst VMs, charged to the projects whose jobs ran on them.",
        )
    )
    for name, driver, priority, price, enabled, cloud_options in BURST_CLOUDS:
        machine = Machine.objects.filter(name=name).first() or save_validated(
            Machine(
                name=name,
                category=category,
                kind=MachineKind.CLOUD,
                description=f"Burst cloud ({driver})",
                start_date=today,
            )
        )
        save_validated(Resource(machine=machine, pool=vm_hours, name=f"{name} VMs", quantity=100))
        cloud = save_validated(
            Cloud(
                machine=machine,
                driver=driver,
                priority=priority,
                price_per_core_hour=price,
                enabled=enabled,
                options=cloud_options,
                default_image=DEFAULT_IMAGE,
                idle_keep=60,
            )
        )
        cloud.serves.add(brecca)
    # The worker image's checksum in the catalog: the one its copies must have (image sync).
    save_validated(
        Image(
            name=DEFAULT_IMAGE,
            kind=MachineKind.BATCH,
            source_url="http://images.example.org/burst-worker.raw",
            checksum=image_checksum(DEFAULT_IMAGE_DATA),
            description="Burst worker VMs: they join brecca's partition burst.",
        )
    )
    scheme = Scheme.objects.get(name="ET")
    cpu_hours = ResourcePool.objects.get(name="CPU Hours")
    period = save_validated(
        AllocationPeriod(
            name=f"burst-{today.year}", start=date(today.year, 1, 1), end=date(today.year, 12, 31)
        )
    )
    for pid, hours in (("ProjectA", 200), ("ProjectB", 50)):
        grant = create_grant(Project.objects.get(pid=pid), scheme, period.start, period.end,
                             awarded=period.start)  # fmt: skip
        allocate(grant, period, vm_hours, Decimal(hours))
        # and core hours for this year too, so that jobs run now (the example's are in 2100)
        allocate(grant, period, cpu_hours, Decimal(hours * 5))
    queued = 0
    if jobs and brecca.engine == "local":
        queued = queue_demo_jobs(brecca)
    return {"burst clouds": len(BURST_CLOUDS), "queued jobs": queued}


def queue_demo_jobs(brecca: Machine | None = None, scale: int = 1) -> int:
    """Queue the demo's jobs on the local batch system (not on a real Slurm)."""
    from allotment.burst.local import LocalQueue

    brecca = brecca or Machine.objects.get(name="brecca")
    queue = LocalQueue(brecca)
    count = 0
    for account, cores, seconds, n in DEMO_JOBS:
        queue.submit(account, cores=cores, seconds=seconds, count=n * scale)
        count += n * scale
    return count
