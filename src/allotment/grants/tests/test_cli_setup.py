"""Grant schemes and allocation periods from the CLI."""

import json

import pytest
from django.core.management import call_command

from allotment.grants.models import AllocationPeriod, Scheme


def run(capsys, *args: str):
    """Run a command; its JSON output, or (exit code, stdout, stderr) when it fails."""
    capsys.readouterr()
    try:
        call_command(*args)
    except SystemExit as e:
        out = capsys.readouterr()
        return e.code, out.out, out.err
    return json.loads(capsys.readouterr().out)


def test_schemes_list_show_create_and_set(example, capsys):
    assert run(capsys, "scheme", "list", "--json") == [
        {
            "name": "ET",
            "description": "The example scheme",
            "opened": "2100-01-01",
            "closed": None,
            "grants": 2,
        }
    ]
    made = run(
        capsys, "scheme", "create", "Pilot", "--opened", "2100-02-01", "--description", "Small",
        "--json",
    )  # fmt: skip
    assert made == {
        "name": "Pilot",
        "description": "Small",
        "opened": "2100-02-01",
        "closed": None,
        "grants": 0,
    }
    closed = run(capsys, "scheme", "set", "Pilot", "--closed", "2100-06-30", "--json")
    assert closed == made | {"closed": "2100-06-30"}
    assert run(capsys, "scheme", "set", "Pilot", "--closed", "open", "--json") == made
    assert run(capsys, "scheme", "show", "Pilot", "--json") == made


def test_periods_list_show_create_and_set(example, capsys):
    year = {"name": "2100", "start": "2100-01-01", "end": "2100-12-31"}
    assert run(capsys, "period", "list", "--json") == [year]
    made = run(
        capsys, "period", "create", "2101", "--start", "2101-01-01", "--end", "2101-12-31",
        "--json",
    )  # fmt: skip
    assert made == {"name": "2101", "start": "2101-01-01", "end": "2101-12-31"}
    assert [p["name"] for p in run(capsys, "period", "list", "--json")] == ["2101", "2100"]
    renamed = run(capsys, "period", "set", "2101", "--name", "Y2101", "--json")
    assert renamed == made | {"name": "Y2101"}
    assert run(capsys, "period", "show", "2100", "--json") == year


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["scheme", "create", "ET"],
            'error: name: There is already a scheme named "ET".\n',
        ),
        (
            ["scheme", "set", "ET", "--closed", "2099-12-31"],
            'error: closed: Scheme "ET" cannot close (2099-12-31) before it opens (2100-01-01).\n',
        ),
        (["scheme", "show", "XX"], 'error: There is no scheme "XX".\n'),
        (
            ["period", "create", "2101", "--start", "2101-12-31", "--end", "2101-01-01"],
            'error: end: Period "2101" cannot end (2101-01-01) before it starts (2101-12-31).\n',
        ),
        (
            ["period", "create", "2100", "--start", "2100-01-01", "--end", "2100-12-31"],
            'error: name: There is already an allocation period named "2100".\n',
        ),
        (
            ["period", "set", "1999", "--end", "1999-12-31"],
            'error: There is no allocation period "1999".\n',
        ),
    ],
)
def test_refusals_name_the_field_and_object_and_exit_1(example, capsys, args, error):
    periods = list(AllocationPeriod.objects.values_list("name", "start", "end"))
    schemes = list(Scheme.objects.values_list("name", "opened", "closed"))
    assert run(capsys, *args) == (1, "", error)
    assert list(AllocationPeriod.objects.values_list("name", "start", "end")) == periods
    assert list(Scheme.objects.values_list("name", "opened", "closed")) == schemes


def test_a_period_cannot_move_away_from_the_grants_of_its_allocations(example, capsys):
    code, out, err = run(
        capsys, "period", "set", "2100", "--start", "2101-01-01", "--end", "2101-12-31"
    )
    grant = example.grant1.pk
    assert (code, out, err) == (
        1,
        "",
        'error: start: Period "2100" cannot run 2101-01-01 to 2101-12-31: allocations in it '
        f"were made under grants it would no longer overlap (Grant {grant} to ProjectA (ET) "
        "runs 2100-01-01 to 2100-12-31).\n",
    )
    assert AllocationPeriod.objects.get(name="2100").start.year == 2100
