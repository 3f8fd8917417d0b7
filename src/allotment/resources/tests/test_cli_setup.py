"""Setting a site up from the CLI: categories, machines, pools and resources."""

import json

import pytest
from django.core.management import call_command

from allotment.resources.models import Machine, Resource, ResourcePool


def run(capsys, *args: str):
    """Run a command; its JSON output, or (exit code, stdout, stderr) when it fails."""
    capsys.readouterr()
    try:
        call_command(*args)
    except SystemExit as e:
        out = capsys.readouterr()
        return e.code, out.out, out.err
    return json.loads(capsys.readouterr().out)


def test_a_machine_set_up_from_nothing_through_the_cli(example, capsys):
    assert run(capsys, "category", "create", "lab", "--description", "Lab accounts", "--json") == {
        "name": "lab",
        "description": "Lab accounts",
        "machines": [],
    }
    made = run(
        capsys, "machine", "create", "kelp", "--category", "lab", "--engine", "slurm",
        "--engine-options", '{"cluster": "kelp"}', "--cores", "64", "--nodes", "2",
        "--start", "2100-03-01", "--time-zone", "Europe/Stockholm", "--json",
    )  # fmt: skip
    assert made == {
        "name": "kelp",
        "category": "lab",
        "kind": "batch",
        "engine": "slurm",
        "engine_options": {"cluster": "kelp"},
        "description": "",
        "cores": 64,
        "nodes": 2,
        "start_date": "2100-03-01",
        "end_date": None,
        "time_zone": "Europe/Stockholm",
        "resources": [],
    }
    pool = run(
        capsys, "pool", "create", "GPU Hours", "--units", "GPU hours", "--metric",
        "core_seconds", "--unit-size", "3600", "--json",
    )  # fmt: skip
    assert pool == {
        "name": "GPU Hours",
        "units": "GPU hours",
        "aggregation": "sum",
        "metric": "core_seconds",
        "unit_size": 3600,
        "description": "",
        "capacity": 0,
        "resources": [],
    }
    resource = run(
        capsys, "resource", "create", "kelp-gpus", "--machine", "kelp", "--pool", "GPU Hours",
        "--quantity", "8760", "--scaling-factor", "2.5", "--json",
    )  # fmt: skip
    resource_id = Resource.objects.get(name="kelp-gpus").pk
    assert resource == {
        "id": resource_id,
        "name": "kelp-gpus",
        "machine": "kelp",
        "pool": "GPU Hours",
        "quantity": 8760,
        "scaling_factor": 2.5,
        "scaled_quantity": 21900,
        "units": "GPU hours",
    }
    assert run(capsys, "pool", "show", "GPU Hours", "--json")["capacity"] == 21900
    assert run(capsys, "machine", "show", "kelp", "--json")["resources"] == [resource]
    assert run(capsys, "category", "show", "lab", "--json")["machines"] == ["kelp"]


def test_lists_give_every_object_in_name_order(example, capsys):
    assert [m["name"] for m in run(capsys, "machine", "list", "--json")] == ["brecca", "tango"]
    assert run(capsys, "machine", "list", "--category", "default", "--json")[1] == {
        "name": "tango",
        "category": "default",
        "kind": "cloud",
        "engine": "local",
        "engine_options": {},
        "description": "The OpenStack cloud; its hypervisors are faster per core",
        "cores": 128,
        "nodes": 2,
        "start_date": "2100-01-01",
        "end_date": None,
        "time_zone": "UTC",
    }
    assert run(capsys, "category", "list", "--json") == [
        {
            "name": "default",
            "description": "Accounts shared by brecca and tango",
            "machines": ["brecca", "tango"],
        }
    ]
    pools = run(capsys, "pool", "list", "--json")
    assert [(p["name"], p["units"], p["aggregation"], p["unit_size"]) for p in pools] == [
        ("CPU Hours", "hours", "sum", 3600),
        ("Disk Space", "KB", "max", 1024),
    ]
    rows = run(capsys, "resource", "list", "--pool", "CPU Hours", "--json")
    assert [(r["name"], r["scaling_factor"]) for r in rows] == [
        ("brecca-cores", 1),
        ("tango-cores", 1.5),
    ]
    assert [r["name"] for r in run(capsys, "resource", "list", "--machine", "tango", "--json")] == [
        "tango-cores",
        "tango-project",
    ]


def test_set_changes_only_the_options_given(example, capsys):
    before = run(capsys, "machine", "show", "tango", "--json")
    after = run(capsys, "machine", "set", "tango", "--cores", "96", "--end", "2100-12-31", "--json")
    assert after == before | {"cores": 96, "end_date": "2100-12-31"}
    reopened = run(capsys, "machine", "set", "tango", "--end", "open", "--json")
    assert reopened == after | {"end_date": None}
    pool = run(capsys, "pool", "set", "Disk Space", "--description", "Storage", "--json")
    assert (pool["description"], pool["units"], pool["aggregation"]) == ("Storage", "KB", "max")
    resource = run(capsys, "resource", "set", "tango-cores", "--scaling-factor", "1.25", "--json")
    assert (resource["scaling_factor"], resource["quantity"]) == (1.25, 128 * 8760)
    assert run(capsys, "category", "set", "default", "--name", "main", "--json")["name"] == "main"
    assert Machine.objects.get(name="brecca").category.name == "main"


def test_set_without_options_is_bad_usage(example):
    from django.core.management import CommandError

    with pytest.raises(CommandError) as e:
        call_command("machine", "set", "tango")
    assert (str(e.value), e.value.returncode) == (
        "Nothing to change: give at least one option to set (see --help).",
        2,
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["machine", "create", "brecca", "--category", "default"],
            'error: name: There is already a machine named "brecca".\n',
        ),
        (
            ["machine", "create", "kelp", "--category", "nope"],
            'error: There is no machine category "nope".\n',
        ),
        (
            ["machine", "set", "tango", "--time-zone", "Mars/Base"],
            'error: time_zone: Machine "tango": "Mars/Base" is not a time zone name such as '
            '"Europe/Stockholm" or "UTC".\n',
        ),
        (
            ["machine", "set", "tango", "--end", "2099-12-31"],
            'error: end_date: Machine "tango" cannot end (2099-12-31) before it starts '
            "(2100-01-01).\n",
        ),
        (["machine", "show", "nope"], 'error: There is no machine "nope".\n'),
        (
            ["pool", "create", "CPU Hours", "--units", "hours"],
            'error: name: There is already a resource pool named "CPU Hours".\n',
        ),
        (
            [
                "resource",
                "create",
                "neg",
                "--machine",
                "tango",
                "--pool",
                "CPU Hours",
                "--quantity",
                "-5",
            ],
            'error: quantity: Resource "neg": the quantity cannot be negative (-5).\n',
        ),
        (
            [
                "resource",
                "create",
                "tango-cores",
                "--machine",
                "tango",
                "--pool",
                "CPU Hours",
                "--quantity",
                "5",
            ],
            'error: name: Machine "tango" already has a resource "tango-cores" in pool '
            '"CPU Hours".\n',
        ),
        (
            ["resource", "set", "tango-cores", "--scaling-factor", "-1"],
            'error: scaling_factor: Resource "tango-cores": the scaling factor cannot be '
            "negative (-1).\n",
        ),
        (
            ["resource", "show", "tango-cores", "--machine", "brecca"],
            'error: There is no resource "tango-cores" on machine "brecca".\n',
        ),
    ],
)
def test_refusals_name_the_field_and_object_and_exit_1(example, capsys, args, error):
    machines = list(Machine.objects.values_list("name", "cores", "end_date", "time_zone"))
    resources = list(Resource.objects.values_list("name", "quantity", "scaling_factor"))
    assert run(capsys, *args) == (1, "", error)
    assert list(Machine.objects.values_list("name", "cores", "end_date", "time_zone")) == machines
    assert list(Resource.objects.values_list("name", "quantity", "scaling_factor")) == resources
    assert ResourcePool.objects.count() == 2


def test_a_resource_name_two_machines_share_needs_machine_or_pool(example, capsys):
    run(capsys, "resource", "create", "tango-cores", "--machine", "brecca", "--pool",
        "CPU Hours", "--quantity", "1", "--json")  # fmt: skip
    assert run(capsys, "resource", "show", "tango-cores") == (
        1,
        "",
        'error: There are several resources "tango-cores" (brecca → CPU Hours, tango → CPU '
        "Hours); say which with --machine or --pool.\n",
    )
    shown = run(capsys, "resource", "show", "tango-cores", "--machine", "tango", "--json")
    assert shown["quantity"] == 128 * 8760


def test_cli_changes_are_audited_as_the_actor(example, capsys, monkeypatch):
    monkeypatch.setenv("ALLOTMENT_ACTOR", "alice")
    run(capsys, "machine", "set", "tango", "--cores", "96", "--json")
    rows = run(capsys, "audit", "list", "--model", "resources.machine", "--limit", "1", "--json")
    assert (rows[0]["action"], rows[0]["object"], rows[0]["actor"]) == ("update", "tango", "alice")
    assert rows[0]["changes"] == {"cores": [128, 96]}
    assert rows[0]["additional_data"]["via"] == "cli"
