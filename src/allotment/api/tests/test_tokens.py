"""API tokens: made and revoked with `allot token`, accepted or refused by the API."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.api.models import ApiToken


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def create_json(capsys, *args) -> dict:
    capsys.readouterr()
    call_command("token", "create", *args, "--json")
    return json.loads(capsys.readouterr().out)


def test_token_create_prints_a_working_token_once_and_keeps_only_its_hash(example, capsys):
    made = create_json(capsys, "bob", "--name", "ci", "--expires-days", "30")
    record = ApiToken.objects.get(prefix=made["prefix"])
    assert made["token"].startswith(f"{record.prefix}.")
    assert record.secret_hash == tokens.hash_token(made["token"])
    assert made["token"] not in {record.secret_hash, record.prefix, record.name}
    assert (made["person"], made["name"], made["status"]) == ("bob", "ci", "active")
    assert timedelta(days=29) < record.expires - timezone.now() <= timedelta(days=30)

    response = bearer(made["token"]).get("/api/people/bob/")
    assert response.status_code == 200
    assert response.json()["username"] == "bob"


def test_token_create_in_plain_text_prints_the_token_on_its_own_line(example, capsys):
    call_command("token", "create", "alice")
    lines = capsys.readouterr().out.strip().splitlines()
    assert bearer(lines[-1]).get("/api/projects/").status_code == 200


def test_token_list_shows_prefixes_and_status_never_secrets(example, capsys):
    made = create_json(capsys, "bob")
    create_json(capsys, "chen")
    capsys.readouterr()
    call_command("token", "list", "bob", "--json")
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert [(r["prefix"], r["person"], r["status"]) for r in rows] == [
        (made["prefix"], "bob", "active")
    ]
    assert made["token"] not in out
    call_command("token", "list")
    table = capsys.readouterr().out
    assert made["prefix"] in table and "chen" in table


def test_token_revoke_stops_the_token_at_once(example, capsys):
    made = create_json(capsys, "bob")
    client = bearer(made["token"])
    assert client.get("/api/projects/").status_code == 200
    call_command("token", "revoke", made["prefix"])
    response = client.get("/api/projects/")
    assert response.status_code == 401
    assert response.json() == {"detail": f'API token "{made["prefix"]}" was revoked.'}
    assert response["WWW-Authenticate"] == "Bearer"


def test_token_commands_refuse_unknown_names_with_exit_code_1(example, capsys):
    for args, message in (
        (("create", "nobody"), 'There is no person "nobody".'),
        (("revoke", "deadbeef"), 'There is no API token whose prefix starts with "deadbeef".'),
        (("list", "nobody"), 'There is no person "nobody".'),
    ):
        with pytest.raises(SystemExit) as e:
            call_command("token", *args)
        assert e.value.code == 1
        assert f"error: {message}" in capsys.readouterr().err


def test_token_create_refuses_a_zero_day_expiry_as_bad_usage(example):
    with pytest.raises(CommandError, match="0 is not in the range"):
        call_command("token", "create", "bob", "--expires-days", "0")
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused_naming_when_it_expired(example):
    issued = tokens.issue(example.people["bob"], expires_days=1)
    ApiToken.objects.filter(pk=issued.record.pk).update(
        expires=timezone.now() - timedelta(minutes=1)
    )
    response = bearer(issued.token).get("/api/projects/")
    assert response.status_code == 401
    assert response.json()["detail"].startswith(f'API token "{issued.record.prefix}" expired on')


@pytest.mark.parametrize("state", ["is_locked", "is_active"])
def test_a_locked_or_inactive_persons_token_is_refused(example, state):
    bob = example.people["bob"]
    issued = tokens.issue(bob)
    setattr(bob, state, state == "is_locked")
    bob.save()
    response = bearer(issued.token).get("/api/projects/")
    assert response.status_code == 401
    word = "locked" if state == "is_locked" else "inactive"
    assert response.json() == {
        "detail": f'API token "{issued.record.prefix}" belongs to bob, who is {word}.'
    }


@pytest.mark.parametrize(
    "header, detail",
    [
        ("Bearer nonsense", "Unknown API token."),
        ("Bearer abcd1234.wrong-secret", "Unknown API token."),
        ("Bearer", 'Give the token as "Authorization: Bearer TOKEN", with no spaces in the token.'),
        (
            "Bearer a b",
            'Give the token as "Authorization: Bearer TOKEN", with no spaces in the token.',
        ),
    ],
)
def test_a_malformed_or_unknown_token_is_a_401_saying_so(example, header, detail):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/projects/")
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_a_right_prefix_with_a_wrong_secret_is_unknown(example):
    issued = tokens.issue(example.people["bob"])
    response = bearer(issued.record.prefix + ".not-the-secret").get("/api/projects/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown API token."}


def test_last_used_is_written_at_most_once_a_minute(example, django_assert_num_queries):
    issued = tokens.issue(example.people["bob"])
    client = bearer(issued.token)
    client.get("/api/machines/")
    first = ApiToken.objects.get(pk=issued.record.pk).last_used
    assert first is not None
    client.get("/api/machines/")
    assert ApiToken.objects.get(pk=issued.record.pk).last_used == first
    ApiToken.objects.filter(pk=issued.record.pk).update(last_used=first - timedelta(minutes=2))
    client.get("/api/machines/")
    assert ApiToken.objects.get(pk=issued.record.pk).last_used > first - timedelta(minutes=1)


def test_the_session_of_a_signed_in_person_works_too(example):
    client = APIClient()
    client.force_login(example.people["bob"])
    assert client.get("/api/people/bob/").status_code == 200
