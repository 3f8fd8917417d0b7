"""allot cloud, allot vm, allot burst and allot image sync|list on the local burst site:
exact JSON, the lines people read, and exit codes (0 ok, 1 refused or failed, 2 bad
usage)."""

import json

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError

from allotment.burst import status
from allotment.burst.engines import TAG_KEY, VM_KEY
from allotment.burst.local import DEFAULT_IMAGE_DATA, LocalCloud, image_checksum
from allotment.burst.models import VM, Cloud
from allotment.burst.tests import test_status
from allotment.cli.output import _default
from allotment.inventory.models import Image

pytestmark = pytest.mark.django_db

WORKER_SUM = image_checksum(DEFAULT_IMAGE_DATA)
# The local site after one decision (burst.tests.test_status): 3 VMs requested for ProjectA.
vm_allocation = test_status.vm_allocation
decided = test_status.decided


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    """Tables wide enough that no cell is cut."""
    monkeypatch.setenv("COLUMNS", "250")


def run(capsys, *args: str):
    """A command's JSON (or its text with --text), or (exit code, stdout, stderr) when it
    fails."""
    text = args[-1] == "--text"
    args = args[:-1] if text else args
    capsys.readouterr()
    try:
        call_command(*args)
    except SystemExit as e:
        out = capsys.readouterr()
        return e.code, out.out, out.err
    except CommandError as e:  # bad usage, as call_command reports it (exit 2 on a shell)
        return e.returncode, "", f"error: {e}\n"
    out = capsys.readouterr().out
    return out if text else json.loads(out)


def as_json(data):
    return json.loads(json.dumps(data, default=_default))


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


# -- allot cloud -----------------------------------------------------------------------


def test_cloud_list_and_show_print_the_status_rows(decided, capsys):
    assert run(capsys, "cloud", "list", "--json") == as_json(status.cloud_rows())
    shown = run(capsys, "cloud", "show", "nimbus", "--json")
    assert (shown["name"], shown["free"]["instances"], [v["name"] for v in shown["vms"]]) == (
        "nimbus", 1, ["burst3", "burst2", "burst1"]
    )  # fmt: skip
    table = run(capsys, "cloud", "list", "--text")
    row = next(line for line in lines(table) if "nimbus" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        "nimbus", "local", "yes", "healthy", "10", "0", "brecca", "requested 3", "1/4", "5/8",
        "5000/8000", "1/1",
    ]  # fmt: skip


def test_cloud_add_makes_the_cloud_audited_as_the_cli(decided, capsys):
    made = run(
        capsys, "cloud", "add", "cumulus", "--driver", "openstack", "--serves", "brecca",
        "--option", "cloud=site-cloud", "--option", "boot_seconds=0", "--priority", "5",
        "--price", "0.02", "--max-cores", "64", "--image", "burst-worker", "--image",
        "gpu-worker", "--tag", "data:vospace", "--json",
    )  # fmt: skip
    assert {k: made[k] for k in ("name", "driver", "enabled", "priority", "price_per_core_hour",
                                 "tags", "serves", "options", "caps", "images")} == {
        "name": "cumulus", "driver": "openstack", "enabled": True, "priority": 5,
        "price_per_core_hour": 0.02, "tags": ["data:vospace"], "serves": ["brecca"],
        "options": {"cloud": "site-cloud", "boot_seconds": 0},
        "caps": {"max_instances": None, "max_cores": 64, "max_ram_mb": None},
        "images": {"served": ["burst-worker", "gpu-worker"], "present": []},
    }  # fmt: skip
    entry = LogEntry.objects.get_for_object(Cloud.objects.get(machine__name="cumulus")).first()
    assert entry.additional_data["via"] == "cli"


def test_cloud_add_refusals_say_what_and_where_and_exit_1(decided, capsys):
    code, _, err = run(
        capsys, "cloud", "add", "cumulus", "--driver", "ec2", "--serves", "brecca", "--option",
        "aws_secret_access_key=abc", "--max-instances", "-1", "--json",
    )  # fmt: skip
    assert (code, lines(err)) == (1, [
        'error: options: Cloud "cumulus": option "aws_secret_access_key" looks like a '
        "credential; name where it is kept (a clouds.yaml entry, an AWS profile or credentials "
        "file), not the value.",
        'error: max_instances: Cloud "cumulus": max_instances must be a whole number, 0 or '
        "more, or none (-1 is negative).",
    ])  # fmt: skip
    assert not Cloud.objects.filter(machine__name="cumulus").exists()
    code, _, err = run(capsys, "cloud", "add", "brecca", "--driver", "local", "--json")
    assert (code, err) == (1, "error: name: Machine brecca is of kind batch; a burst cloud is "
                              "a machine of kind cloud.\n")  # fmt: skip
    code, _, err = run(capsys, "cloud", "add", "cumulus", "--driver", "gcp")
    assert (code, err) == (2, "error: --driver: 'gcp' is not one of 'local', 'openstack', "
                              "'ec2'.\n")  # fmt: skip


def test_cloud_set_changes_only_what_is_given(decided, capsys):
    changed = run(
        capsys, "cloud", "set", "nimbus", "--priority", "3", "--option", "boot_seconds=",
        "--option", "region=north", "--max-cores", "6", "--disabled", "--json",
    )  # fmt: skip
    assert (changed["priority"], changed["enabled"], changed["options"], changed["caps"]) == (
        3, False,
        {"quota": {"instances": 4, "cores": 8, "ram_mb": 8000}, "region": "north"},
        {"max_instances": None, "max_cores": 6, "max_ram_mb": None},
    )  # fmt: skip
    cleared = run(capsys, "cloud", "set", "nimbus", "--no-cap", "cores", "--json")
    assert (cleared["caps"]["max_cores"], cleared["priority"]) == (None, 3)
    single = run(capsys, "cloud", "set", "nimbus", "--single-use", "--json")
    assert (single["throttles"]["single_use"], single["priority"]) == (True, 3)
    again = run(capsys, "cloud", "set", "nimbus", "--reusable", "--json")
    assert again["throttles"]["single_use"] is False
    assert run(capsys, "cloud", "set", "nimbus") == (
        2, "", "error: Nothing to change: give at least one option to set (see --help).\n"
    )  # fmt: skip
    assert run(capsys, "cloud", "set", "nimbus", "--no-cap", "disks")[0] == 2
    assert run(capsys, "cloud", "set", "nowhere", "--priority", "1") == (
        1, "", 'error: There is no cloud "nowhere".\n'
    )  # fmt: skip


def test_cloud_refresh_reads_the_cloud_and_sweeps_only_our_orphans(decided, capsys):
    local = LocalCloud("nimbus")
    local.add_foreign_server("someone-elses")
    local.add_foreign_server("lost", tags={TAG_KEY: "allotment", VM_KEY: "burst9"})
    assert run(capsys, "cloud", "refresh", "nimbus", "--json") == {
        "cloud": "nimbus", "health": "healthy", "servers": 2, "flavors": 2, "images": 1,
        "orphans_deleted": ["lost"], "foreign": ["someone-elses"],
    }  # fmt: skip
    assert [s.name for s in local.servers()] == ["someone-elses"]
    assert lines(run(capsys, "cloud", "refresh", "nimbus", "--text")) == [
        "Read cloud nimbus: 1 server(s), 2 flavor(s), 1 image(s); it is healthy.",
        "Orphans deleted: none.",
        "Not ours, left alone: someone-elses.",
    ]
    local.set_down(True)
    assert run(capsys, "cloud", "refresh", "nimbus") == (
        1, "", "error: Cloud nimbus did not answer: local cloud nimbus: quota: not answering "
               "(it is down)\n"
    )  # fmt: skip


# -- allot vm --------------------------------------------------------------------------


def test_vm_list_shows_live_vms_unless_all_and_filters(decided, capsys):
    VM.objects.filter(name="burst1").update(state="deleted")
    names = lambda *a: [v["name"] for v in run(capsys, "vm", "list", *a, "--json")]  # noqa: E731
    assert names() == ["burst3", "burst2"]
    assert names("--all") == ["burst3", "burst2", "burst1"]
    assert names("--state", "deleted") == ["burst1"]
    assert names("--project", "projecta", "--limit", "1") == ["burst3"]
    assert names("--cloud", "nimbus", "--batch", "brecca") == ["burst3", "burst2"]
    assert run(capsys, "vm", "list", "--state", "asleep") == (
        1, "", 'error: "asleep" is not a VM state (one of: requested, booting, idle, busy, '
               "retiring, deleting, deleted, abandoned, failed).\n"
    )  # fmt: skip


def test_vm_show_by_name_or_id(decided, capsys):
    shown = run(capsys, "vm", "show", "burst2", "--json")
    assert shown == as_json(status.vm_detail("burst2"))
    assert run(capsys, "vm", "show", str(shown["id"]), "--json")["name"] == "burst2"
    assert run(capsys, "vm", "show", "burst9") == (1, "", 'error: There is no VM named "burst9".\n')


def test_vm_retire_says_what_will_happen_all_or_none(decided, capsys):
    VM.objects.filter(name="burst3").update(state="busy")
    assert run(capsys, "vm", "retire", "burst[1-2]", "burst9") == (
        1, "", 'error: There is no VM named "burst9".\n'
    )  # fmt: skip
    assert not VM.objects.filter(retire_asked=True).exists()
    assert lines(run(capsys, "vm", "retire", "burst[1-3]", "--text")) == [
        "burst1 (requested): deleted before it boots.",
        "burst2 (requested): deleted before it boots.",
        "burst3 (busy): drained: takes no new job, deleted once its jobs end.",
        "The agent's burst.vm loop does it (allot vm list to follow).",
    ]
    assert VM.objects.filter(retire_asked=True).count() == 3
    VM.objects.filter(name="burst1").update(state="deleting")
    assert run(capsys, "vm", "retire", "burst1", "--json") == [
        {"id": VM.objects.get(name="burst1").pk, "name": "burst1", "state": "deleting",
         "retiring": False, "what": "already being deleted"}
    ]  # fmt: skip


# -- allot burst -----------------------------------------------------------------------


def test_burst_status_prints_demand_supply_and_refusals(decided, capsys):
    assert run(capsys, "burst", "status", "--json")["batches"] == as_json(
        status.burst_status()["batches"]
    )
    text = lines(run(capsys, "burst", "status", "brecca", "--text"))
    assert text[0].startswith("brecca (partitions burst): decided ")
    assert text[0].endswith(": 6 idle job(s) in 2 group(s), 0 running; 6 VM(s) wanted, 3 booted, "
                            "3 still short.")  # fmt: skip
    cells = [[c.strip() for c in line.strip("│ ").split("│")] for line in text if "│" in line]
    assert ["nimbus", "healthy", "requested 3", "0", "3", "1/4", "5/8", "5000/8000", "0"] in cells
    assert ["ProjectA", "5", "3", "0", "10", "10"] in cells
    assert ["ProjectB", "1", "0", "—", "—", "0"] in cells
    assert ["throttle: VMs starting", "2"] in cells
    assert ["allocation spent", "1"] in cells
    assert run(capsys, "burst", "status", "tango") == (
        1, "", "error: Machine tango bursts into no cloud.\n"
    )  # fmt: skip


def test_burst_decide_takes_one_decision_now(decided, capsys):
    # The 3 VMs already requested serve ProjectA's group; 2 more wait for starting slots.
    assert run(capsys, "burst", "decide", "--json") == [
        {"batch": "brecca", "idle_jobs": 6, "groups": 2, "boots": 0,
         "refusals": {"allocation spent": 1, "throttle: VMs starting": 2}}
    ]  # fmt: skip
    assert lines(run(capsys, "burst", "decide", "brecca", "--text")) == [
        "brecca: 6 idle job(s) in 2 group(s); 0 VM(s) to boot, 3 refused."
    ]


# -- allot image -----------------------------------------------------------------------


@pytest.fixture
def cumulus(burst_site):
    """A second local cloud serving burst-worker that has no image yet; after nimbus, so
    nimbus's copy is the reference where the catalog has none."""
    from allotment.burst import catalog

    return catalog.add_cloud(
        "cumulus", "local", serves=["brecca"], options={"boot_seconds": 0, "images": []},
        default_image="burst-worker", priority=20,
    )  # fmt: skip


def test_image_sync_copies_what_a_cloud_lacks_after_a_dry_run(cumulus, capsys):
    planned = run(capsys, "image", "sync", "--dry-run", "--json")
    assert (planned["present"], planned["copies"], planned["done"]) == (
        [{"image": "burst-worker", "cloud": "nimbus"}],
        [{"image": "burst-worker", "checksum": WORKER_SUM, "source": "nimbus",
          "source_id": "img-burst-worker", "dest": "cumulus"}],
        [],
    )  # fmt: skip
    assert LocalCloud("cumulus", {"images": []}).images() == []
    text = lines(run(capsys, "image", "sync", "--text"))
    assert text[0].startswith("copied burst-worker from nimbus to cumulus (img-")
    assert text[-1] == "1 present; 1 copied, 0 not copied, 0 conflict(s), 0 unverified, 0 missing."
    assert [i.name for i in LocalCloud("cumulus", {"images": []}).images()] == ["burst-worker"]
    again = run(capsys, "image", "sync", "--cloud", "cumulus", "--json")
    assert (again["present"], again["copies"]) == ([{"image": "burst-worker",
                                                      "cloud": "cumulus"}], [])  # fmt: skip


def test_image_sync_exits_1_on_a_conflict_it_never_overwrites(cumulus, capsys):
    LocalCloud("cumulus", {"images": []}).add_image("burst-worker", b"another build\n")
    code, out, err = run(capsys, "image", "sync")
    assert (code, err) == (1, "error: 1 conflict(s) and 0 failed copy(ies) remain.\n")
    row = next(line for line in lines(out) if "conflict" in line and "│" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        "burst-worker", "cumulus", "conflict",
        f"want {WORKER_SUM}, found {image_checksum(b'another build' + bytes([10]))}",
    ]  # fmt: skip
    assert run(capsys, "image", "sync", "--json")[0] == 1
    assert len(LocalCloud("cumulus", {"images": []}).images()) == 1


def test_image_list_shows_the_clouds_holding_each_image(burst_site, capsys):
    from allotment.burst import services

    _, nimbus = burst_site
    services.refresh(nimbus)
    Image.objects.create(name="burst-worker", kind="cloud", source_url="http://i.example.org/w",
                         checksum=WORKER_SUM)  # fmt: skip
    Image.objects.create(name="hpc", kind="batch", source_url="http://i.example.org/h",
                         checksum="sha256:" + "a" * 64)  # fmt: skip
    LocalCloud("nimbus").add_image("scratch-only", b"x\n")
    services.refresh(nimbus)
    listed = run(capsys, "image", "list", "--json")
    assert [(i["name"], i["clouds"]) for i in listed] == [
        ("burst-worker", ["nimbus"]), ("hpc", [])
    ]  # fmt: skip
    with_clouds = run(capsys, "image", "list", "--clouds", "--json")
    assert with_clouds[2] == {
        "name": "scratch-only", "kind": "cloud only", "source_url": "",
        "checksum": image_checksum(b"x\n"), "description": "", "nodes": 0, "clouds": ["nimbus"],
    }  # fmt: skip
    assert len(run(capsys, "image", "list", "--clouds", "--kind", "batch", "--json")) == 1
