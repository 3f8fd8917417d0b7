"""`allot slurm pull-usage` given a wrong machine or time: one line naming it, no Slurm
needed."""

import pytest
from django.core.management import call_command


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("brecka",), 1, 'There is no machine "brecka"; the machines using Slurm are: '),
        (("brecca", "--since", "yesterday"), 2,
         "--since: yesterday is not a time (YYYY-MM-DDTHH:MM:SS, the machine's zone)"),
    ],
)  # fmt: skip
def test_pull_usage_names_what_is_wrong(example, capsys, args, code, message):
    from django.core.management.base import CommandError

    try:
        call_command("slurm", "pull-usage", *args)
    except SystemExit as e:
        assert (e.code, code) == (1, 1)
        assert capsys.readouterr().err.startswith(f"error: {message}")
    except CommandError as e:
        assert (e.returncode, str(e)) == (code, message)
    else:
        raise AssertionError("pull-usage succeeded")
