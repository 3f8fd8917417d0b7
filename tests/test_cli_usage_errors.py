"""Bad usage of `allot`: one line naming the option or argument, and exit code 2.

Run through the real entry point (`allotment.cli.main.main`), as a person typing it would:
none of these reach the database, since the arguments are refused first.
"""

import pytest
from django.core.management import CommandError, call_command

from allotment.cli.main import main


def allot(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["usage", "report", "--from", "2100-02-30"],
            "--from: 2100-02-30 is not a date (YYYY-MM-DD)",
        ),
        (["usage", "report", "--to", "2100-13-01"], "--to: 2100-13-01 is not a date (YYYY-MM-DD)"),
        (
            ["usage", "rebuild", "--from", "yesterday", "--to", "2100-01-31"],
            "--from: yesterday is not a date (YYYY-MM-DD)",
        ),
        (
            [
                "grant",
                "create",
                "ProjectA",
                "--scheme",
                "ET",
                "--begins",
                "2100-1-1",
                "--expires",
                "2100-12-31",
            ],
            "--begins: 2100-1-1 is not a date (YYYY-MM-DD)",
        ),
        (
            [
                "grant",
                "create",
                "ProjectA",
                "--scheme",
                "ET",
                "--begins",
                "2100-01-01",
                "--expires",
                "2100-12-31",
                "--awarded",
                "31/12/2099",
            ],
            "--awarded: 31/12/2099 is not a date (YYYY-MM-DD)",
        ),
        (["project", "show"], "PID: missing; this argument is required"),
        (["grant", "create", "ProjectA", "--scheme"], "--scheme: requires an argument."),
        (["project", "list", "--unde", "x"], "--unde: no such option (did you mean --under?)"),
        (
            ["usage", "report", "--by", "week"],
            "--by: 'week' is not one of 'day', 'month', 'quarter', 'year'.",
        ),
        (
            ["token", "create", "bob", "--expires-days", "0"],
            "--expires-days: 0 is not in the range x>=1.",
        ),
        (
            ["project", "frobnicate"],
            "No such command 'frobnicate'; the commands are: show, create, move, list, set-pid, "
            "add-member, remove-member",
        ),
    ],
)
def test_bad_usage_prints_one_line_naming_the_option_and_exits_2(capsys, argv, line):
    assert allot(capsys, *argv) == (2, "", f"error: {line}\n")


def test_a_missing_required_option_names_it(capsys):
    code, out, err = allot(
        capsys, "grant", "create", "ProjectA", "--begins", "2100-01-01", "--expires", "2100-12-31"
    )
    assert (code, out, err) == (2, "", "error: --scheme: missing; this option is required\n")


def test_bad_usage_through_call_command_is_a_command_error_with_code_2():
    with pytest.raises(CommandError) as e:
        call_command("usage", "report", "--from", "2100-02-30")
    assert (str(e.value), e.value.returncode) == (
        "--from: 2100-02-30 is not a date (YYYY-MM-DD)",
        2,
    )
