"""A name ending in a line break is refused everywhere a name is written.

Python's `$` matches before a trailing "\\n", so "evil\\n" once passed the pid and unix-name
patterns; the project was created and every later Slurm load file broke at that line.
"""

import json

import pytest
from django.core.exceptions import ValidationError

from allotment.core.validation import save_validated
from allotment.groups.models import Group
from allotment.people.models import Person
from allotment.projects.models import Project
from allotment.projects.services import create_project
from allotment.resources.models import Account, Machine, MachineCategory
from allotment.usage.models import Job, QuarantinedRecord

from .helpers import cli_json

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z


@pytest.mark.parametrize("pid", ["evil\n", "evil\r\n", "\nevil", " evil", "evil "])
def test_a_pid_with_surrounding_whitespace_is_refused(example, pid):
    with pytest.raises(ValidationError) as e:
        create_project(pid, "Evil", parent=example.projects["InstituteA"])
    assert list(e.value.message_dict) == ["pid"]
    assert not Project.objects.filter(pid__startswith="evil").exists()
    assert not Project.objects.filter(pid__endswith="evil").exists()


@pytest.mark.parametrize("name", ["evil\n", "evil cluster", "-evil"])
def test_a_machine_name_that_is_not_one_word_is_refused(example, name):
    category = MachineCategory.objects.first()
    with pytest.raises(ValidationError) as e:
        save_validated(Machine(name=name, category=category))
    assert list(e.value.message_dict) == ["name"]
    assert not Machine.objects.filter(name=name).exists()


def test_a_unix_group_name_ending_in_a_newline_is_refused(example):
    group = Group(name="evil\n", gid=99999, project=example.projects["ProjectA"])
    with pytest.raises(ValidationError) as e:
        group.full_clean()
    assert "name" in e.value.message_dict
    assert e.value.message_dict["name"][0].startswith("Enter a valid unix name")


def test_an_account_username_ending_in_a_newline_is_refused(example):
    account = Account(
        person=Person.objects.get(username="alice"),
        machine_category=MachineCategory.objects.create(name="other"),
        username="alice\n",
        uid=99999,
    )
    with pytest.raises(ValidationError) as e:
        save_validated(account)
    assert "username" in e.value.message_dict


def test_a_person_username_ending_in_a_newline_is_refused(example):
    person = Person(username="evil\n", institute=example.projects["InstituteA"])
    person.set_unusable_password()
    with pytest.raises(ValidationError) as e:
        save_validated(person, exclude=["password"])
    assert "username" in e.value.message_dict


def test_condor_import_with_create_missing_does_not_create_a_project_ending_in_a_newline(
    example, tmp_path, capsys
):
    ads = [
        {"ClusterId": 1, "Owner": "alice", "AcctGroup": "evil\n", "JobStatus": 4,
         "QDate": MARCH_1_2100, "JobStartDate": MARCH_1_2100,
         "CompletionDate": MARCH_1_2100 + 3600, "RequestCpus": 1},
        {"ClusterId": 2, "Owner": "alice", "AcctGroup": "ProjectA", "JobStatus": 4,
         "QDate": MARCH_1_2100, "JobStartDate": MARCH_1_2100,
         "CompletionDate": MARCH_1_2100 + 3600, "RequestCpus": 1},
    ]  # fmt: skip
    path = tmp_path / "history.json"
    path.write_text(json.dumps(ads))
    summary = cli_json(
        capsys, "usage", "import", "--format", "condor", "--machine", "brecca",
        "--create-missing", "--institute", "InstituteA", str(path),
    )  # fmt: skip
    assert (summary["read"], summary["new"], summary["quarantined"]) == (2, 1, 1)
    assert summary["created"] == []
    assert not Project.objects.filter(pid__startswith="evil").exists()
    assert list(Job.objects.values_list("job_id", "project__pid")) == [("2.0", "ProjectA")]
    (held,) = QuarantinedRecord.objects.all()
    assert (held.key, held.reason) == ("1.0@2100-03-01T00:00:00Z", "unknown_project")
    assert held.detail == (
        "cannot create project \"evil\n\": Enter a valid project id: letters, digits, '_', "
        "'.' or '-', starting with a letter or digit, at most 64 characters."
    )
