"""The audit log says a secret changed and keeps no part of it.

django-auditlog's default mask hides only the first half of a value: for a PBKDF2 hash that
left the digest (and for a SHA-256 token hash, half of it) readable by anyone who may read
the log.
"""

import importlib
import json

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from allotment.api import tokens
from allotment.applications import inviting
from allotment.people.models import Person

MARK = "(changed)"


def last_entry(obj) -> LogEntry:
    return LogEntry.objects.get_for_object(obj).order_by("-pk").first()


def pieces(secret: str) -> list[str]:
    """Every part of a hash worth hiding: the whole, each '$' field, and its halves."""
    parts = [p for p in secret.split("$") if len(p) >= 8] + [secret]
    return parts + [p[len(p) // 2 :] for p in parts] + [p[: len(p) // 2] for p in parts]


def show(capsys, entry_id: int, *options: str) -> str:
    capsys.readouterr()
    call_command("audit", "show", str(entry_id), *options)
    return capsys.readouterr().out


def test_changepassword_logs_that_the_password_changed_and_no_part_of_the_hash(
    example, monkeypatch, capsys
):
    alice = example.people["alice"]
    before = Person.objects.get(pk=alice.pk).password
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a new long passphrase 42")
    call_command("changepassword", "alice")
    alice.refresh_from_db()
    assert alice.check_password("a new long passphrase 42")
    entry = last_entry(alice)
    assert entry.changes_dict == {"password": [MARK, MARK]}
    data = json.loads(show(capsys, entry.pk, "--json"))
    assert data["changes"] == {"password": [MARK, MARK]}
    table = show(capsys, entry.pk)
    assert "password" in table and MARK in table
    for secret in (before, alice.password):
        for piece in pieces(secret):
            assert piece not in table
            assert piece not in json.dumps(data)


def test_an_api_token_hash_is_not_logged(example):
    issued = tokens.issue(example.people["alice"], name="script")
    entry = last_entry(issued.record)
    assert entry.changes_dict["secret_hash"] == [None, MARK]
    logged = json.dumps(entry.changes_dict)
    for piece in [*pieces(issued.record.secret_hash), issued.token.split(".")[1]]:
        assert piece not in logged


def test_an_invitation_token_hash_is_not_logged(example):
    invitation, token = inviting.invite(
        example.projects["ProjectA"], "newcomer@example.org", example.people["alice"]
    )
    entry = last_entry(invitation)
    assert entry.changes_dict["token_hash"] == [None, MARK]
    logged = json.dumps(entry.changes_dict)
    for piece in [*pieces(invitation.token_hash), token]:
        assert piece not in logged


def test_an_email_change_token_hash_is_not_logged(example):
    from allotment.people import email

    change, token = email.request_change(example.people["bob"], "bob.new@example.org")
    entry = last_entry(change)
    assert entry.changes_dict["token_hash"] == [None, MARK]
    logged = json.dumps(entry.changes_dict)
    for piece in [*pieces(change.token_hash), token]:
        assert piece not in logged


@pytest.fixture
def scrub():
    return importlib.import_module("allotment.audit.migrations.0001_scrub_secret_hashes").scrub


def test_the_migration_scrubs_hashes_already_in_the_log(example, scrub):
    """Entries written with auditlog's half mask before the fix keep no part of the hash."""
    from django.apps import apps

    alice = example.people["alice"]
    leaked = "********************************************Vq0uJ8zXbLrS4wQ=$ZQ3H3C1f0k+Y="
    person_type = ContentType.objects.get_for_model(Person)
    base = dict(content_type=person_type, object_pk=str(alice.pk), object_repr=str(alice))
    created = LogEntry.objects.create(
        **base, action=LogEntry.Action.CREATE,
        changes={"username": [None, "alice"], "password": ["**ne", leaked]},
    )  # fmt: skip
    updated = LogEntry.objects.create(
        **base, action=LogEntry.Action.UPDATE,
        changes={"password": [leaked, leaked[::-1]], "email": ["a@x.org", "b@x.org"]},
    )  # fmt: skip
    older = LogEntry.objects.create(
        **base, action=LogEntry.Action.UPDATE, changes=None,
        changes_text=json.dumps({"secret_hash": ["", leaked]}),
    )  # fmt: skip
    untouched = LogEntry.objects.create(
        **base, action=LogEntry.Action.UPDATE, changes={"first_name": ["A", "B"]}
    )
    scrub(apps, None)
    for entry in (created, updated, older, untouched):
        entry.refresh_from_db()
    assert created.changes == {"username": [None, "alice"], "password": [None, MARK]}
    assert updated.changes == {"password": [MARK, MARK], "email": ["a@x.org", "b@x.org"]}
    assert json.loads(older.changes_text) == {"secret_hash": ["", MARK]}
    assert untouched.changes == {"first_name": ["A", "B"]}
