"""The sync planner alone: desired and observed states in, the fewest commands out."""

from allotment.integrations.slurm.sync import State, desired, plan
from allotment.resources.models import Machine


def state(accounts=(), associations=(), defaults=()) -> State:
    return State(dict(accounts), set(associations), dict(defaults))


WANT = state(
    accounts={"inst": ("root", "inst"), "pa": ("inst", "inst"), "pb": ("inst", "inst")},
    associations={("alice", "pa"), ("bob", "pa"), ("bob", "pb")},
    defaults={"alice": "pa", "bob": "pb"},
)


def test_from_empty_everything_goes_in_one_load_file_parents_first():
    result = plan(WANT, state(), "brecca")
    assert result.commands == []
    assert result.all_commands() == ["load file=<plan>"]
    assert result.load.splitlines() == [
        "Cluster - 'brecca'",
        "Parent - 'root'",
        "Account - 'inst':Description='inst':Organization='inst'",
        "Parent - 'inst'",
        "Account - 'pa':Description='pa':Organization='inst'",
        "Account - 'pb':Description='pb':Organization='inst'",
        "Parent - 'pa'",
        "User - 'alice':DefaultAccount='pa'",
        "User - 'bob':DefaultAccount='pb'",
        "Parent - 'pb'",
        "User - 'bob':DefaultAccount='pb'",
    ]


def test_the_load_walks_the_tree_depth_first_so_slurmdbd_shifts_little():
    # Slurm 22.05 keeps associations as a nested set: each group under one parent shifts
    # every association right of it, so groups go left to right, one subtree at a time
    # (by depth, then name, would put pa2 before pa1's members).
    want = state(
        accounts={"i1": ("root", "i1"), "i2": ("root", "i2"), "pa1": ("i1", "i1"),
                  "pa2": ("i2", "i2"), "pb1": ("i1", "i1"), "sub": ("pa1", "i1")},
        associations={("u1", "pa1"), ("u2", "pa2"), ("u3", "pb1"), ("u4", "sub")},
    )  # fmt: skip
    parents = [line for line in plan(want, state(), "c").load.splitlines() if "Parent" in line]
    assert parents == [
        "Parent - 'root'", "Parent - 'i1'", "Parent - 'pa1'", "Parent - 'sub'",
        "Parent - 'pb1'", "Parent - 'i2'", "Parent - 'pa2'",
    ]  # fmt: skip


def test_equal_states_plan_nothing():
    assert plan(WANT, WANT, "brecca").empty


def test_a_move_a_new_default_and_removals_are_grouped_commands():
    have = state(
        accounts={**WANT.accounts, "pb": ("pa", "inst"), "old": ("inst", "inst")},
        associations={*WANT.associations, ("carol", "pa"), ("dave", "pa"), ("eve", "old")},
        defaults={"alice": "pa", "bob": "pa", "carol": "pa", "dave": "pa", "eve": "old"},
    )
    result = plan(WANT, have, "brecca")
    assert result.load == ""
    assert result.commands == [
        "modify account where name=pb cluster=brecca set parent=inst",
        "modify user where name=bob cluster=brecca set defaultaccount=pb",
        "remove user where name=carol,dave,eve cluster=brecca",
        "remove account where name=old cluster=brecca",
    ]


def test_a_user_keeping_other_projects_loses_only_the_association():
    have = state(
        accounts=WANT.accounts,
        associations={*WANT.associations, ("alice", "pb")},
        defaults=WANT.defaults,
    )
    assert plan(WANT, have, "brecca").commands == [
        "remove user where name=alice account=pb cluster=brecca"
    ]


def test_slurms_root_account_and_user_are_never_touched():
    have = state(associations={("root", "root")}, defaults={"root": "root"})
    result = plan(state(), have, "brecca")
    assert result.empty


def test_a_new_association_of_an_existing_user_leaves_the_default_to_a_per_cluster_modify():
    # A load file's DefaultAccount would change bob's default on every cluster.
    have = state(
        accounts=WANT.accounts,
        associations={("alice", "pa"), ("bob", "pa")},
        defaults={"alice": "pa", "bob": "pa"},
    )
    result = plan(WANT, have, "brecca")
    assert result.load.splitlines()[1:] == ["Parent - 'pb'", "User - 'bob'"]
    assert result.commands == ["modify user where name=bob cluster=brecca set defaultaccount=pb"]


def test_a_user_slurm_has_on_another_cluster_gets_this_clusters_default_by_modify():
    have = state(accounts=WANT.accounts)
    have.users = {"bob"}  # on another cluster of the same slurmdbd
    result = plan(WANT, have, "tasman")
    users = [line for line in result.load.splitlines() if line.startswith("User")]
    assert users == [
        "User - 'alice':DefaultAccount='pa'",  # new to Slurm: the load sets it
        "User - 'bob'",
        "User - 'bob'",
    ]
    assert result.commands == ["modify user where name=bob cluster=tasman set defaultaccount=pb"]


def test_a_user_leaving_the_cluster_loses_the_default_association_last_and_only_here():
    # Slurm refuses to remove a default association together with another one.
    have = state(
        accounts=WANT.accounts,
        associations={*WANT.associations, ("carol", "pa"), ("carol", "pb"), ("dave", "pb")},
        defaults={**WANT.defaults, "carol": "pb", "dave": "pb"},
    )
    assert plan(WANT, have, "tasman").commands == [
        "remove user where name=carol account=pa cluster=tasman",
        "remove user where name=carol,dave cluster=tasman",
    ]


def test_the_ledger_becomes_the_desired_state(example):
    want = desired(Machine.objects.get(name="brecca"))
    assert want.accounts["projectd"] == ("projectc", "institutec")
    assert want.accounts["institutea"] == ("root", "institutea")
    assert ("bob", "projectb") in want.associations
    assert want.defaults["bob"] == "projecta"
    assert want.defaults["dana"] == "instituteb"  # her only membership


def test_an_allocation_is_split_between_the_machines_feeding_its_pool(example):
    from datetime import date

    from allotment.integrations.slurm.sync import remaining_minutes
    from allotment.projects.models import Project

    projects = {p.pk: p for p in Project.objects.all()}
    brecca, tango = Machine.objects.get(name="brecca"), Machine.objects.get(name="tango")
    june = date(2100, 6, 1)
    # 60 hours: brecca holds 4/7 of the pool's capacity, tango 3/7 at scaling 1.5.
    assert remaining_minutes(brecca, projects, june) == {"projecta": 2057}
    assert remaining_minutes(tango, projects, june) == {"projecta": 1028}
    assert 2057 * 60 + 1028 * 60 * 1.5 <= 60 * 3600
    # After the period, a project that had an allocation may use nothing more.
    assert remaining_minutes(brecca, projects, date(2101, 6, 1)) == {"projecta": 0}


def test_a_site_wide_change_is_cut_into_arguments_exec_accepts():
    names = [f"project-{n:05d}" for n in range(20_000)]  # ~280 KB of comma-joined names
    accounts = {n: ("root", "inst") for n in names}
    want = State(accounts, set(), {}, limits=dict.fromkeys(names, 60))
    have = State(accounts, set(), {}, limits=dict.fromkeys(names, 30))
    result = plan(want, have, "brecca")
    assert len(result.commands) > 1
    changed = []
    for command in result.commands:
        argument = command.split()[3]  # name=a,b,c
        assert len(argument) < 128 * 1024
        changed += argument.removeprefix("name=").split(",")
    assert changed == names


class AnsweringCluster:
    """Stands in for sacctmgr: refuses the commands it is given answers for."""

    def __init__(self, refusals: dict[str, str]):
        self.refusals = refusals

    def attempt(self, *args: str) -> tuple[int, str]:
        command = " ".join(args[2:])  # after "sacctmgr -i"
        return (1, self.refusals[command]) if command in self.refusals else (0, "")


KEPT = " Error with request: You can not remove the default account of a user"


def test_a_default_association_kept_by_a_deferred_removal_is_deferred_with_it():
    from allotment.integrations.slurm.sync import Outcome, Plan, _apply

    cluster = AnsweringCluster({
        "remove user where name=bob account=pa cluster=tasman": " Job(s) active, cancel job(s)",
        "remove user where name=bob,carol cluster=tasman": KEPT,
        "remove user where name=bob cluster=tasman": KEPT,
    })  # fmt: skip
    outcome = Outcome(Plan("tasman"))
    for command in (
        "remove user where name=bob account=pa cluster=tasman",
        "remove user where name=bob,carol cluster=tasman",
    ):
        _apply(cluster, command, outcome)
    assert [d["command"] for d in outcome.deferred] == [
        "remove user where name=bob account=pa cluster=tasman",
        "remove user where name=bob cluster=tasman",
    ]
    assert outcome.applied == ["remove user where name=carol cluster=tasman"]
    assert outcome.failed == []


def test_a_default_account_refusal_nothing_explains_is_a_failure():
    from allotment.integrations.slurm.sync import Outcome, Plan, _apply

    cluster = AnsweringCluster({"remove user where name=bob cluster=tasman": KEPT})
    outcome = Outcome(Plan("tasman"))
    _apply(cluster, "remove user where name=bob cluster=tasman", outcome)
    assert outcome.deferred == [] and outcome.applied == []
    assert [f["command"] for f in outcome.failed] == ["remove user where name=bob cluster=tasman"]


def test_a_capped_project_and_its_sub_projects_are_limited_by_pool_and_caps(example):
    from datetime import date
    from decimal import Decimal

    from allotment.core.validation import save_validated
    from allotment.grants.models import AllocationCap
    from allotment.grants.services import allocate, create_grant
    from allotment.integrations.slurm.sync import remaining_minutes
    from allotment.projects.models import AllocationMode, Project
    from allotment.projects.services import create_project

    project_c, project_d = example.projects["ProjectC"], example.projects["ProjectD"]
    project_c.allocation_mode = AllocationMode.CAPPED
    save_validated(project_c)
    create_project("ProjectE", "Project E", parent=project_c)  # no cap: draws nothing
    cpu = example.pools["CPU Hours"]
    grant = create_grant(project_c, example.scheme, date(2100, 1, 1), date(2100, 12, 31))
    allocate(grant, example.period, cpu, Decimal(70))
    save_validated(AllocationCap(project=project_d, resource_pool=cpu, quantity=10))
    projects = {p.pk: p for p in Project.objects.all()}
    brecca = Machine.objects.get(name="brecca")
    june = date(2100, 6, 1)

    # brecca holds 4/7 of the pool: 70 h -> 2400 min for C; D's cap of 10 h -> 342 min.
    limits = remaining_minutes(brecca, projects, june)
    assert limits["projectc"] == 2400
    assert limits["projectd"] == 342
    assert limits["projecte"] == 0
    # D drew 4 h from C's pool: 6 h of its cap are left (205 min), and 66 h of C's (2262).
    from allotment.grants.models import AllocationPool
    from allotment.usage.models import DailyUsage

    DailyUsage.objects.create(
        day=date(2100, 3, 1), month=date(2100, 3, 1), kind="job", machine=brecca,
        resource_pool=cpu, submitted_project=project_d, charged_project=project_c,
        allocation_pool=AllocationPool.objects.get(project=project_c, resource_pool=cpu),
        charge="charged", jobs=1, raw=4 * 3600, used=4 * 3600,
    )  # fmt: skip
    limits = remaining_minutes(brecca, projects, june)
    assert (limits["projectc"], limits["projectd"]) == (2262, 205)
    # A cap beyond what is left in the parent's pool is held to the pool.
    AllocationCap.objects.filter(project=project_d).update(quantity=Decimal(500))
    assert remaining_minutes(brecca, projects, june)["projectd"] == 2262
    # After the period: nothing more for any of them.
    after = remaining_minutes(brecca, projects, date(2101, 6, 1))
    assert (after["projectc"], after["projectd"], after["projecte"]) == (0, 0, 0)


def test_a_person_past_their_expiry_date_has_no_associations_as_if_locked(example):
    """Issue 10, item 17: `expires` is the last day a person may act; after it the person's
    associations go, as a locked person's do, and come back if the date is moved on."""
    from datetime import timedelta

    from django.utils import timezone

    brecca = Machine.objects.get(name="brecca")
    farid = example.people["farid"]
    assert ("farid", "projectd") in desired(brecca).associations
    farid.expires = timezone.localdate() - timedelta(days=1)
    farid.save()
    want = desired(brecca)
    assert {user for user, _ in want.associations} == {"alice", "bob", "chen", "dana", "eve",
                                                        "grace"}  # fmt: skip
    assert "farid" not in want.defaults
    farid.expires = timezone.localdate()
    farid.save()
    assert ("farid", "projectd") in desired(brecca).associations
