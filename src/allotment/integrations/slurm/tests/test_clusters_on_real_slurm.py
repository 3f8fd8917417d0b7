"""Two clusters of one slurmdbd, each synced from its own machine of the ledger.

Slurm's accounts and users are global; associations and default accounts belong to a
cluster. brecca is the dev cluster; tasman is registered in the same slurmdbd with
`sacctmgr add cluster` (managing its associations needs no controller) and runs the
machine tasman of a second machine category, where only alice, bob and eve have
accounts, each with another default project than on brecca.
"""

from datetime import date

import pytest

from allotment.core.validation import save_validated
from allotment.integrations.slurm.sacctmgr import Cluster
from allotment.integrations.slurm.sync import desired, observed, sync
from allotment.resources.models import Account, Engine, Machine, MachineCategory

pytestmark = pytest.mark.slurm

SECOND = "tasman"
# username -> default project on tasman; on brecca (the example site) they are ProjectA,
# ProjectA and ProjectC.
ON_TASMAN = {"alice": "ProjectB", "bob": "ProjectB", "eve": "ProjectD"}
ON_BRECCA = {"alice": "projecta", "bob": "projecta", "eve": "projectc"}


@pytest.fixture
def tasman(brecca, example):
    """The second cluster, registered in brecca's slurmdbd for this test and removed after."""
    cluster = Cluster(SECOND, Cluster.of(brecca).slurm_conf)
    code, out = cluster.attempt("sacctmgr", "-i", "add", "cluster", SECOND)
    assert code == 0 or "already exists" in out, out
    category = save_validated(MachineCategory(name="coast", description="tasman's accounts"))
    machine = save_validated(
        Machine(name=SECOND, category=category, engine=Engine.SLURM, start_date=date(2100, 1, 1),
                engine_options={"cluster": SECOND, "slurm_conf": cluster.slurm_conf})
    )  # fmt: skip
    for uid, (username, default) in enumerate(sorted(ON_TASMAN.items()), start=30001):
        save_validated(
            Account(person=example.people[username], machine_category=category,
                    username=username, uid=uid, default_project=example.projects[default])
        )  # fmt: skip
    yield machine
    cluster.attempt("sacctmgr", "-i", "remove", "cluster", SECOND)


def slurm_defaults(cluster: Cluster) -> dict[str, str]:
    """Default accounts as sacctmgr prints them for one cluster (users with none print "")."""
    out = cluster.run("sacctmgr", "-n", "-P", "list", "user", "where", f"cluster={cluster.name}",
                      "format=User,DefaultAccount")  # fmt: skip
    return dict(line.split("|") for line in out.splitlines() if line)


def associations(cluster: Cluster) -> set[tuple[str, str]]:
    """(user, account) on the cluster, from slurmdbd (tasman has no slurmctld for sshare)."""
    return observed(cluster, count_usage=False).associations - {("root", "root")}


def users_of(cluster: Cluster) -> set[str]:
    return {u for u, _ in associations(cluster)}


def test_two_clusters_keep_their_own_associations_and_default_accounts(brecca, tasman, example):
    one, two = Cluster.of(brecca), Cluster.of(tasman)
    first = sync(tasman)
    assert not first.failed, first.failed
    # alice, bob and eve exist (on brecca): tasman's load adds their associations without a
    # default, which would be applied on every cluster, and sets it on tasman alone.
    assert "User - 'alice'\n" in first.plan.load and "DefaultAccount" not in first.plan.load
    assert first.applied[0] == "load file=<plan>" and first.applied[1:] == [
        "modify user where name=alice,bob cluster=tasman set defaultaccount=projectb",
        "modify user where name=eve cluster=tasman set defaultaccount=projectd",
    ]
    for _ in range(2):  # each cluster's second sync: nothing, whatever the other did
        for machine in (brecca, tasman):
            assert sync(machine).plan.empty, sync(machine, dry_run=True).plan.all_commands()
    for machine, cluster in ((brecca, one), (tasman, two)):
        assert associations(cluster) == desired(machine).associations
    assert users_of(two) == {"alice", "bob", "eve"}
    assert users_of(one) == {"alice", "bob", "chen", "dana", "eve", "farid", "grace"}
    assert {u: d for u, d in slurm_defaults(one).items() if u in ON_BRECCA} == ON_BRECCA
    assert {u: d for u, d in slurm_defaults(two).items() if u in ON_TASMAN} == {
        "alice": "projectb", "bob": "projectb", "eve": "projectd"
    }  # fmt: skip

    # A default changed on one machine changes on that cluster only.
    account = Account.objects.get(machine_category=tasman.category, username="eve")
    account.default_project = example.projects["InstituteC"]
    save_validated(account)
    assert sync(tasman).applied == [
        "modify user where name=eve cluster=tasman set defaultaccount=institutec"
    ]
    assert slurm_defaults(two)["eve"] == "institutec"
    assert slurm_defaults(one)["eve"] == "projectc"
    assert sync(brecca).plan.empty

    # bob leaves tasman's category: he loses tasman's associations (the one that is not
    # his default first: Slurm refuses to remove a default association with another),
    # and keeps brecca's.
    bob = Account.objects.get(machine_category=tasman.category, username="bob")
    bob.date_deleted = date.today()
    save_validated(bob)
    left = sync(tasman)
    assert left.applied == [
        "remove user where name=bob account=projecta cluster=tasman",
        "remove user where name=bob cluster=tasman",
    ], left.failed
    for machine in (brecca, tasman):
        assert sync(machine).plan.empty, sync(machine, dry_run=True).plan.all_commands()
    assert users_of(two) == {"alice", "eve"}
    assert {a for u, a in associations(one) if u == "bob"} == {"projecta", "projectb"}
    assert slurm_defaults(one)["bob"] == "projecta"
