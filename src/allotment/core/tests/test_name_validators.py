"""Name patterns match the whole value: `$` matched before a trailing line break."""

import pytest
from django.core.exceptions import ValidationError

from allotment.core.unix import machine_name_validator, unix_name_validator
from allotment.projects.models import pid_validator

VALIDATORS = {
    "unix": unix_name_validator,
    "pid": pid_validator,
    "machine": machine_name_validator,
}


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
@pytest.mark.parametrize("name", ["evil\n", "evil\r\n", "evil\n\n", "\nevil", " evil", "evil\t"])
def test_names_with_line_breaks_or_surrounding_whitespace_are_refused(kind, name):
    with pytest.raises(ValidationError) as e:
        VALIDATORS[kind](name)
    assert e.value.messages[0].startswith("Enter a valid ")


@pytest.mark.parametrize(
    ("kind", "name"),
    [("unix", "alice"), ("unix", "_svc-1"), ("unix", "host$"), ("pid", "ProjectA"),
     ("pid", "p.1-x_y"), ("machine", "brecca"), ("machine", "node-01.example.org")],
)  # fmt: skip
def test_ordinary_names_pass(kind, name):
    VALIDATORS[kind](name)


def test_a_unix_name_may_end_in_one_dollar_only():
    with pytest.raises(ValidationError):
        unix_name_validator("host$\n")
    with pytest.raises(ValidationError):
        unix_name_validator("host$$")
