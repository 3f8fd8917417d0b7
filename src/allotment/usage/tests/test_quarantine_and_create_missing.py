"""Unknown names: quarantined with the reason and retried later, refused with --strict,
or created with --create-missing under the institute named."""

import pytest
from django.core.management import call_command

from allotment.core.validation import save_validated
from allotment.people.models import Person
from allotment.projects.models import Project
from allotment.projects.services import create_project
from allotment.usage import ingest
from allotment.usage.models import DailyUsage, Job, QuarantinedRecord

from .helpers import cli_json, daily, import_, sacct_line, write_csv, write_sacct

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z


def unknown_names_file(tmp_path):
    return write_sacct(
        tmp_path / "jobs.txt",
        sacct_line("1", "alice", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T11:00:00", 1),
        sacct_line("2", "zed", "ProjectA", "2100-03-01T10:00:00", "2100-03-01T12:00:00", 2),
        sacct_line("3", "bob", "ProjectZ", "2100-03-01T10:00:00", "2100-03-01T13:00:00", 3),
    )


def test_unknown_person_and_project_are_quarantined_with_the_reason(example, tmp_path, capsys):
    path = unknown_names_file(tmp_path)
    summary = import_(path)
    assert (summary["read"], summary["new"], summary["quarantined"]) == (3, 1, 2)
    assert list(Job.objects.values_list("job_id", flat=True)) == ["1"]
    # A job is known by its id and submit time (ids are reused), so is a quarantined one.
    held = {q.key.split("@")[0]: q for q in QuarantinedRecord.objects.all()}
    assert set(QuarantinedRecord.objects.values_list("key", flat=True)) == {
        "2@2100-03-01T10:00:00Z", "3@2100-03-01T10:00:00Z",
    }  # fmt: skip
    assert (held["2"].reason, held["2"].machine_name, held["2"].source) == (
        "unknown_person", "brecca", f"{path}:3",
    )  # fmt: skip
    assert "zed" in held["2"].detail
    assert (held["3"].reason, held["3"].source) == ("unknown_project", f"{path}:4")
    assert "ProjectZ" in held["3"].detail
    listed = cli_json(capsys, "usage", "quarantine")
    assert [(r["key"], r["reason"]) for r in listed] == [
        ("2@2100-03-01T10:00:00Z", "unknown_person"), ("3@2100-03-01T10:00:00Z", "unknown_project"),
    ]  # fmt: skip


def test_requeue_imports_what_now_exists_and_keeps_the_rest(example, tmp_path, capsys):
    import_(unknown_names_file(tmp_path))
    zed = Person(username="zed", institute=example.projects["InstituteA"])
    zed.set_unusable_password()
    save_validated(zed, exclude=["password"])
    summary = cli_json(capsys, "usage", "requeue")
    assert (summary["read"], summary["new"], summary["quarantined"]) == (2, 1, 1)
    assert sorted(Job.objects.values_list("job_id", flat=True)) == ["1", "2"]
    assert list(QuarantinedRecord.objects.values_list("key", flat=True)) == [
        "3@2100-03-01T10:00:00Z"
    ]
    assert sorted(daily("person__username", "raw", "non_member", "charge")) == [
        ("alice", 3600, False, "charged"),
        ("zed", 14400, True, "charged"),
    ]
    assert cli_json(capsys, "usage", "requeue")["new"] == 0


def test_reimporting_a_quarantined_record_once_its_names_exist_clears_it(example, tmp_path):
    path = unknown_names_file(tmp_path)
    import_(path)
    create_project("ProjectZ", "Project Z", parent=example.projects["InstituteA"])
    summary = import_(path)
    assert (summary["new"], summary["quarantined"], summary["unchanged"]) == (1, 1, 1)
    assert list(QuarantinedRecord.objects.values_list("key", flat=True)) == [
        "2@2100-03-01T10:00:00Z"
    ]


def test_strict_fails_and_writes_nothing(example, tmp_path, capsys):
    path = unknown_names_file(tmp_path)
    with pytest.raises(ingest.ImportFailed) as e:
        import_(path, strict=True)
    assert f"{path}:3" in str(e.value) and "zed" in str(e.value)
    assert not Job.objects.exists() and not DailyUsage.objects.exists()
    assert not QuarantinedRecord.objects.exists()
    with pytest.raises(SystemExit) as exit_:
        call_command(
            "usage", "import", "--format", "sacct", "--machine", "brecca", "--strict", str(path)
        )
    assert exit_.value.code == 1
    assert "Nothing of that file was imported." in capsys.readouterr().err
    assert not Job.objects.exists()


def test_an_unknown_machine_is_refused_naming_the_machines_there_are(example, tmp_path):
    path = unknown_names_file(tmp_path)
    with pytest.raises(ingest.UnknownMachine) as e:
        import_(path, machine="nowhere")
    assert str(e.value) == (
        'there is no machine "nowhere"; the machines are: brecca, tango '
        "(--create-missing creates it)"
    )
    assert not Job.objects.exists() and not QuarantinedRecord.objects.exists()


def test_create_missing_creates_person_and_project_under_the_institute(example, tmp_path, capsys):
    path = write_csv(
        tmp_path / "jobs.csv",
        [
            (1, "newbie", "NewProj", MARCH_1_2100, MARCH_1_2100 + 3600, 2),
            (2, "newbie", "ProjectA", MARCH_1_2100, MARCH_1_2100 + 3600, 1),
            (3, "alice", "OtherProj", MARCH_1_2100, MARCH_1_2100 + 3600, 1),
        ],
    )
    summary = cli_json(
        capsys, "usage", "import", "--format", "csv", "--machine", "brecca",
        "--create-missing", "--institute", "InstituteN", str(path),
    )  # fmt: skip
    assert (summary["read"], summary["new"], summary["quarantined"]) == (3, 3, 0)
    assert sorted(summary["created"]) == [
        "institute InstituteN", "person newbie", "project NewProj", "project OtherProj",
    ]  # fmt: skip
    institute = Project.objects.get(pid="InstituteN")
    assert institute.parent_id is None
    assert Person.objects.get(username="newbie").institute == institute
    assert set(Project.objects.filter(parent=institute).values_list("pid", flat=True)) == {
        "NewProj", "OtherProj",
    }  # fmt: skip
    assert sorted(daily("submitted_project__pid", "institute__pid", "charge", "raw")) == [
        ("NewProj", "InstituteN", "unallocated", 7200),
        ("OtherProj", "InstituteN", "unallocated", 3600),
        ("ProjectA", "InstituteA", "charged", 3600),
    ]


def test_create_missing_under_an_existing_institute(example, tmp_path):
    path = write_csv(
        tmp_path / "jobs.csv", [(1, "newbie", "NewProj", MARCH_1_2100, MARCH_1_2100 + 60, 1)]
    )
    summary = import_(path, fmt="csv", create_missing=True, institute="InstituteB")
    assert sorted(summary["created"]) == ["person newbie", "project NewProj"]
    assert Project.objects.get(pid="NewProj").parent.pid == "InstituteB"
    assert Person.objects.get(username="newbie").institute.pid == "InstituteB"


def test_create_missing_needs_an_institute_that_is_an_institute(example, tmp_path):
    path = write_csv(
        tmp_path / "jobs.csv", [(1, "newbie", "NewProj", MARCH_1_2100, MARCH_1_2100 + 60, 1)]
    )
    with pytest.raises(ingest.ImportFailed, match="--institute"):
        import_(path, fmt="csv", create_missing=True)
    with pytest.raises(ingest.ImportFailed, match="not an institute"):
        import_(path, fmt="csv", create_missing=True, institute="ProjectA")
    assert not Job.objects.exists()
    assert not Person.objects.filter(username="newbie").exists()


def test_swf_record_without_submit_time_is_rejected_and_kept(example, tmp_path):
    path = tmp_path / "trace.swf"
    path.write_text(
        f"; UnixStartTime: {MARCH_1_2100}\n"
        "1 0 0 3600 2 -1 -1 2 3600 -1 1 1 1 -1 -1 -1 -1 -1\n"
        "2 -1 0 3600 2 -1 -1 2 3600 -1 1 1 1 -1 -1 -1 -1 -1\n"
    )
    summary = import_(path, fmt="swf", create_missing=True, institute="InstituteB")
    assert (summary["read"], summary["new"], summary["rejected"]) == (2, 1, 1)
    (held,) = QuarantinedRecord.objects.all()
    assert (held.key, held.reason, held.source) == ("2", "invalid", f"{path}:3")
    job = Job.objects.get()
    assert (job.username, job.account, job.person.username, job.project.pid) == (
        "brecca-u1", "brecca-g1", "brecca-u1", "brecca-g1",
    )  # fmt: skip


def test_a_job_ending_before_it_starts_is_rejected_and_kept(example, tmp_path):
    path = write_csv(
        tmp_path / "jobs.csv",
        [
            (1, "alice", "ProjectA", MARCH_1_2100 + 60, MARCH_1_2100, 1),
            (2, "alice", "ProjectA", MARCH_1_2100, MARCH_1_2100 + 60, 1),
        ],
    )
    summary = import_(path, fmt="csv")
    assert (summary["read"], summary["new"], summary["rejected"]) == (2, 1, 1)
    (held,) = QuarantinedRecord.objects.all()
    assert (held.key, held.reason, held.source) == ("1", "invalid", f"{path}:2")


def test_accounts_match_project_ids_ignoring_case(example, tmp_path):
    path = write_csv(
        tmp_path / "jobs.csv", [(1, "alice", "projecta", MARCH_1_2100, MARCH_1_2100 + 3600, 1)]
    )
    assert import_(path, fmt="csv")["new"] == 1
    assert daily("submitted_project__pid", "charge") == [("ProjectA", "charged")]
