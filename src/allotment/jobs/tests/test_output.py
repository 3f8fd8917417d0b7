"""What a job printed, read from the path its Submission recorded and nowhere else: a
regular file owned by the job's user, never through a symbolic link, at most its last
64 KiB; a missing file or one this host cannot see is said in words, not an error."""

import os
import pwd

import pytest
from django.test import Client
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.jobs import output, services
from allotment.jobs.models import Submission

from .conftest import SCRIPT, cli

ME = pwd.getpwuid(os.getuid()).pw_name  # the files below are this process's own


def someone_else() -> str:
    return next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.getuid())


def test_a_small_file_is_shown_whole(tmp_path):
    out = tmp_path / "allot-7.out"
    out.write_text("hello\nworld\n")
    found = output.read(str(out), ME)
    assert (found.text, found.cut, found.size, found.note) == ("hello\nworld\n", False, 12, "")


def test_a_big_file_is_shown_from_its_last_64_kib(tmp_path):
    out = tmp_path / "allot-7.out"
    out.write_bytes(b"x" * 1000 + b"y" * output.MAX_OUTPUT)
    found = output.read(str(out), ME)
    assert (found.text, found.cut, found.size) == ("y" * output.MAX_OUTPUT, True, 66536)


def test_a_cut_inside_a_character_begins_at_the_next_one(tmp_path):
    out = tmp_path / "allot-7.out"
    out.write_bytes("é".encode() + b"a" * (output.MAX_OUTPUT - 1))  # the cut: after 0xC3
    found = output.read(str(out), ME)
    assert (found.text, found.cut) == ("a" * (output.MAX_OUTPUT - 1), True)


def test_the_last_lines_only(tmp_path):
    out = tmp_path / "allot-7.out"
    out.write_text("".join(f"line {n}\n" for n in range(1, 11)))
    found = output.read(str(out), ME).tail(3)
    assert (found.text, found.cut) == ("line 8\nline 9\nline 10\n", True)
    assert output.read(str(out), ME).tail(10).cut is False


def test_a_symbolic_link_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("not yours\n")
    (tmp_path / "allot-7.out").symlink_to(secret)
    found = output.read(str(tmp_path / "allot-7.out"), ME)
    assert (found.text, found.note) == (
        None, f"{tmp_path}/allot-7.out is a symbolic link: not followed, not shown.",
    )  # fmt: skip


def test_a_file_of_someone_else_is_not_shown(tmp_path):
    out = tmp_path / "allot-7.out"
    out.write_text("whose?\n")
    other = someone_else()
    found = output.read(str(out), other)
    assert (found.text, found.note) == (
        None, f"{out} is not owned by {other}, whom the job ran as: not shown.",
    )  # fmt: skip


def test_a_fifo_or_a_directory_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "allot-7.out"
    os.mkfifo(fifo)  # with no writer: opening it must not wait for one
    assert output.read(str(fifo), ME).note == f"{fifo} is not a regular file: not shown."
    assert output.read(str(tmp_path), ME).note == f"{tmp_path} is not a regular file: not shown."


@pytest.mark.parametrize(
    ("stage", "note"),
    [("pending", "The job has not written output yet: it has not started."),
     ("running", "The job has not written output yet (there is no {out} here yet)."),
     ("finished", "The output is not visible from this host: there is no {out} here (it may "
                  "be on the node that ran it).")],
)  # fmt: skip
def test_a_missing_file_is_said_in_words(tmp_path, stage, note):
    out = tmp_path / "allot-7.out"
    found = output.read(str(out), ME, stage)
    assert (found.text, found.note) == (None, note.format(out=out))


def test_a_directory_or_a_user_this_host_lacks_is_not_visible(tmp_path):
    away = tmp_path / "elsewhere" / "allot-7.out"
    assert output.read(str(away), ME).note == (
        f"The output is not visible from this host (no directory {away.parent} here)."
    )
    assert output.read(str(away), "no-such-user-here").note == (
        "The output is not visible from this host: it does not know the user no-such-user-here."
    )
    assert output.read("", ME).note == (
        "The output is not visible from this host: no output file was recorded for it."
    )


# --- through the surfaces, with the row's recorded path -----------------------------------


@pytest.fixture
def alices_output(example, fake_slurm, tmp_path, monkeypatch):
    """alice's job 101 on brecca (jobs_dir: tmp_path), its output written; alice is this
    process's user on this host, as far as the output check asks."""
    from allotment.resources.models import Machine

    brecca = Machine.objects.get(name="brecca")
    brecca.engine_options = {**brecca.engine_options, "jobs_dir": str(tmp_path)}
    brecca.save()
    real = pwd.getpwnam
    monkeypatch.setattr(output.pwd, "getpwnam", lambda name: real(ME if name == "alice" else name))
    row = services.submit(example.people["alice"], services.Ask(SCRIPT, "ProjectB"))
    assert row.output_path == f"{tmp_path}/allot-101.out"
    (tmp_path / "allot-101.out").write_text("user=alice job=101\n")
    return row


def test_the_owner_reads_the_output_through_the_cli(alices_output, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "alice", "output", "101")
    assert (code, out) == (0, "user=alice job=101\n")
    code, _, err = cli(capsys, monkeypatch, "bob", "output", "101")
    assert (code, err) == (1, "error: bob has no job 101 submitted through Allotment.\n")


def test_the_cli_says_why_there_is_nothing_to_show(alices_output, tmp_path, capsys,
                                                   monkeypatch):  # fmt: skip
    (tmp_path / "allot-101.out").unlink()
    code, _, err = cli(capsys, monkeypatch, "alice", "output", "101")
    assert (code, err) == (1, "error: The job has not written output yet: it has not started.\n")


def test_the_job_page_has_an_output_section(example, alices_output, tmp_path):
    browser = Client()
    browser.force_login(example.people["alice"])
    page = browser.get("/jobs/brecca/101/").content.decode()
    assert "<h2>Output</h2>" in page and "user=alice job=101\n</pre>" in page
    (tmp_path / "allot-101.out").unlink()
    (tmp_path / "allot-101.out").symlink_to("/etc/passwd")
    page = browser.get("/jobs/brecca/101/").content.decode()
    assert "is a symbolic link: not followed, not shown." in page and "root:" not in page


def test_the_api_gives_the_owner_the_output_and_others_a_404(example, alices_output):
    def api(person) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(person).token}")
        return client

    alice = api(example.people["alice"])
    answer = alice.get("/api/jobs/brecca/101/output/")
    assert answer.status_code == 200
    assert answer.json() == {
        "job_id": 101, "machine": "brecca", "path": alices_output.output_path,
        "available": True, "text": "user=alice job=101\n", "cut": False, "size": 19, "note": "",
    }  # fmt: skip
    assert alice.get("/api/jobs/brecca/101/output/?tail=1").json()["text"] == (
        "user=alice job=101\n"
    )
    assert alice.get("/api/jobs/brecca/101/output/?tail=x").status_code == 400
    assert alice.get("/api/jobs/brecca/101/output/?tail=0").status_code == 400
    # More digits than int() reads (4,300) or a line count needs: refused, not a 500.
    assert alice.get(f"/api/jobs/brecca/101/output/?tail={'9' * 5000}").status_code == 400
    assert api(example.people["bob"]).get("/api/jobs/brecca/101/output/").status_code == 404
    assert APIClient().get("/api/jobs/brecca/101/output/").status_code == 401


def test_the_path_read_is_the_recorded_one(example, alices_output, tmp_path):
    # The row's path is where the file is looked for, whatever is beside it.
    Submission.objects.filter(pk=alices_output.pk).update(output_path=str(tmp_path / "other"))
    (tmp_path / "other").write_text("the recorded one\n")
    found = services.output(example.people["alice"], 101)
    assert (found.path, found.text) == (str(tmp_path / "other"), "the recorded one\n")
