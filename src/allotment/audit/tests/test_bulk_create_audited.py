"""Rows inserted in bulk are in the audit log exactly as rows saved one by one."""

import pytest
from auditlog.models import LogEntry
from django.db import connection

from allotment.audit.services import create_audited
from allotment.cli.output import audited_as_cli
from allotment.people.models import CareerLevel

pytestmark = pytest.mark.django_db


def entry_of(obj) -> LogEntry:
    return LogEntry.objects.get_for_object(obj).get()


def test_bulk_rows_get_the_same_create_entries_as_saved_rows(monkeypatch):
    monkeypatch.setenv("ALLOTMENT_ACTOR", "nobody-in-the-ledger")
    with audited_as_cli("bulk"):
        saved = CareerLevel(name="Saved one", rank=91, description="x")
        saved.save()
        bulk = create_audited(
            [CareerLevel(name="Bulk one", rank=92, description="x"),
             CareerLevel(name="Bulk two", rank=93, description="y")]
        )  # fmt: skip
    assert all(row.pk for row in bulk)
    expected = entry_of(saved)
    for row in bulk:
        entry = entry_of(row)
        assert entry.action == LogEntry.Action.CREATE
        assert entry.object_repr == str(row)
        assert entry.additional_data == expected.additional_data
        assert set(entry.changes_dict) == set(expected.changes_dict)
        assert entry.changes_dict["name"] == [None, row.name]
    assert expected.changes_dict["name"] == [None, "Saved one"]
    assert entry_of(bulk[1]).changes_dict["description"] == [None, "y"]


def test_the_actor_of_the_surrounding_context_is_recorded(monkeypatch, django_user_model):
    person = django_user_model.objects.create(username="carol-bulk")
    monkeypatch.setenv("ALLOTMENT_ACTOR", "carol-bulk")
    with audited_as_cli("bulk"):
        (row,) = create_audited([CareerLevel(name="By Carol", rank=94)])
    assert entry_of(row).actor == person


def test_without_keys_from_bulk_inserts_rows_are_saved_one_by_one(monkeypatch):
    monkeypatch.setattr(
        type(connection.features), "can_return_rows_from_bulk_insert", property(lambda _: False)
    )

    def no_bulk(*args, **kwargs):
        raise AssertionError("a bulk insert that returns no keys leaves rows without entries")

    monkeypatch.setattr(type(CareerLevel.objects), "bulk_create", no_bulk)
    rows = create_audited([CareerLevel(name="One", rank=95), CareerLevel(name="Two", rank=96)])
    assert [entry_of(r).object_repr for r in rows] == ["One", "Two"]


def test_nothing_to_insert_writes_nothing():
    before = LogEntry.objects.count()
    assert create_audited([]) == []
    assert LogEntry.objects.count() == before
