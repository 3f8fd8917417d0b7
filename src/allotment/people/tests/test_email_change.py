"""Changing one's email: a link to the new address, confirmed by the person signed in
(issue 10, item 3). Pages, API, CLI and admin."""

import json
import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from allotment.applications import services
from allotment.people import email as email_change
from allotment.people.models import EmailChange, Person


def fresh(username: str) -> Person:
    return Person.objects.get(username=username)


def confirm_path(body: str) -> str:
    match = re.search(r"http://[^/]+(/me/email/confirm/[A-Za-z0-9_-]+/)", body)
    assert match, f"no confirmation link in:\n{body}"
    return match.group(1)


@pytest.fixture
def signed_in(client, example):
    def sign_in(username: str):
        client.force_login(fresh(username))
        return client

    return sign_in


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_the_page_mails_a_link_to_the_new_address_and_confirming_verifies_it(
    signed_in, committed, example
):
    invitation, _ = services.invite(example.projects["ProjectC"], "bob@home.example", fresh("eve"))
    bob = signed_in("bob")
    assert bob.get("/me/email/").status_code == 200
    mail.outbox.clear()
    with committed():
        response = bob.post("/me/email/", {"email": "bob@home.example"})
    assert response.status_code == 302 and response.url == "/me/email/"
    [message] = mail.outbox
    assert message.to == ["bob@home.example"]
    assert message.subject == "Confirm your new email address"
    path = confirm_path(message.body)
    # Nothing changes until the link is used: not the email, not what it reveals.
    assert (fresh("bob").email, fresh("bob").email_verified) == (
        "bob@institutea.example.org",
        True,
    )
    assert services.of_person(fresh("bob"))["invitations"] == []
    assert "bob@home.example" in bob.get("/me/email/").content.decode()  # waiting

    page = bob.get(path)  # opening the link (or a mail scanner fetching it) changes nothing
    assert page.status_code == 200 and "Use bob@home.example" in page.content.decode()
    assert fresh("bob").email == "bob@institutea.example.org"
    mail.outbox.clear()
    with committed():
        response = bob.post(path)
    assert response.status_code == 302 and response.url == "/people/bob/"
    assert (fresh("bob").email, fresh("bob").email_verified) == ("bob@home.example", True)
    assert services.of_person(fresh("bob"))["invitations"] == [invitation]
    [notice] = mail.outbox
    assert notice.to == ["bob@institutea.example.org"]  # the old address hears of it
    assert "is now bob@home.example" in notice.body
    entry = LogEntry.objects.get_for_object(fresh("bob")).order_by("-timestamp").first()
    assert entry.actor == fresh("bob")
    assert entry.changes_dict["email"] == ["bob@institutea.example.org", "bob@home.example"]
    assert "email_verified" not in entry.changes_dict  # the example's address was verified too

    again = bob.post(path)
    assert again.status_code == 410
    assert "This link was already used: bob@home.example was confirmed on" in (
        again.content.decode()
    )


def test_whoever_reads_the_new_address_cannot_confirm_for_someone_else(signed_in, example):
    """Chen asks for an address Bob controls; Bob, holding the link, cannot move Chen's
    account there, nor his own."""
    _, token = email_change.request_change(fresh("chen"), "bob-owned@evil.example")
    bob = signed_in("bob")
    for response in (
        bob.get(f"/me/email/confirm/{token}/"),
        bob.post(f"/me/email/confirm/{token}/"),
    ):
        assert response.status_code == 404
        assert "This confirmation link is not valid for you" in response.content.decode()
    assert fresh("chen").email == "chen@institutea.example.org"
    assert fresh("bob").email == "bob@institutea.example.org"
    with pytest.raises(ValidationError):
        email_change.confirm(token, fresh("bob"))
    bob.logout()
    anonymous = bob.get(f"/me/email/confirm/{token}/")
    assert anonymous.status_code == 302 and anonymous.url.startswith("/sign-in/?next=")


def test_a_link_works_for_two_days_and_a_newer_request_replaces_it(example):
    bob = fresh("bob")
    first, first_token = email_change.request_change(bob, "one@home.example")
    assert first.expires_at - first.created == timedelta(hours=48)
    second, second_token = email_change.request_change(bob, "two@home.example")
    assert email_change.pending(bob) == second
    with pytest.raises(ValidationError) as e:
        email_change.confirm(first_token, bob)
    assert e.value.message_dict["token"] == [
        "This link to confirm one@home.example no longer works (it expired, or a newer "
        "request replaced it); ask again at /me/email/."
    ]
    EmailChange.objects.filter(pk=second.pk).update(expires_at=timezone.now())
    with pytest.raises(ValidationError, match=r"two@home\.example no longer works"):
        email_change.confirm(second_token, bob)
    assert fresh("bob").email == "bob@institutea.example.org"


def test_requests_are_bounded_and_checked(example):
    bob = fresh("bob")
    for n in range(email_change.MAX_REQUESTS_PER_DAY):
        email_change.request_change(bob, f"n{n}@home.example")
    with pytest.raises(ValidationError) as e:
        email_change.request_change(bob, "six@home.example")
    [message] = e.value.message_dict["email"]
    assert message.startswith("bob asked for 5 email changes in the last 24 hours; try again")
    for bad, why in (
        ("not an address", '"not an address" is not an email address.'),
        ("", "Give the new email address."),
        ("x" * 250 + "@a.example", "An email address has at most 254 characters."),
    ):
        with pytest.raises(ValidationError) as e:
            email_change.request_change(fresh("chen"), bad)
        assert e.value.message_dict["email"] == [why]
    chen = fresh("chen")
    chen.set_email(chen.email, verified=True)
    chen.save()
    with pytest.raises(ValidationError) as e:
        email_change.request_change(chen, "CHEN@institutea.example.org")
    assert e.value.message_dict["email"] == [
        "CHEN@institutea.example.org is already your verified email."
    ]


def test_only_the_hash_of_the_token_is_stored(example):
    change, token = email_change.request_change(fresh("bob"), "bob@home.example")
    stored = EmailChange.objects.get(pk=change.pk)
    assert token not in json.dumps(list(EmailChange.objects.values()), default=str)
    assert stored.token_hash == email_change.hash_token(token) != token


# The API ------------------------------------------------------------------------------


def api_as(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(username))
    return client


def test_the_api_asks_then_confirms_for_the_caller_only(example, committed):
    bob = api_as("bob")
    with committed():
        response = bob.post("/api/email-change/", {"email": "bob@home.example"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"email", "expires_at"} and body["email"] == "bob@home.example"
    [message] = [m for m in mail.outbox if m.to == ["bob@home.example"]]
    token = confirm_path(message.body).rstrip("/").rsplit("/", 1)[1]

    chen = api_as("chen")
    refused = chen.post("/api/email-change/confirm/", {"token": token}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"]["token"][0].startswith(
        "This confirmation link is not valid for you"
    )
    done = bob.post("/api/email-change/confirm/", {"token": token}, format="json")
    assert done.status_code == 200
    assert done.json() == {
        "username": "bob", "email": "bob@home.example", "email_verified": True
    }  # fmt: skip

    bad = bob.post("/api/email-change/", {"email": "nope"}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"email": ['"nope" is not an email address.']}}
    assert APIClient().post("/api/email-change/", {"email": "a@b.example"}).status_code == 401


def test_the_schema_documents_the_email_change(example):
    schema = APIClient().get("/api/openapi.json").json()
    assert "post" in schema["paths"]["/api/email-change/"]
    assert "post" in schema["paths"]["/api/email-change/confirm/"]
    assert schema["paths"]["/api/email-change/"]["post"]["operationId"] == "email_change_request"


# Site administrators ------------------------------------------------------------------


def test_an_email_set_at_the_shell_is_verified(example, capsys):
    call_command("person", "create", "noor", "--email", "noor@uni.example")
    assert (fresh("noor").email, fresh("noor").email_verified) == ("noor@uni.example", True)
    call_command("person", "set", "bob", "--email", "bob@home.example", "--first-name", "Rob")
    bob = fresh("bob")
    assert (bob.email, bob.email_verified, bob.first_name) == ("bob@home.example", True, "Rob")
    assert (
        "Updated Rob Brennan (bob): email bob@home.example (verified)." in capsys.readouterr().out
    )
    call_command("person", "set", "bob", "--first-name", "Bob")
    assert fresh("bob").email_verified  # other fields leave it alone
    with pytest.raises(CommandError, match="exited with code 2"):
        call_command("person", "set", "bob")
    assert "error: nothing to change: give --email" in capsys.readouterr().err
    chen = fresh("chen")
    chen.email = "chen@elsewhere.example"  # not through set_email: unverified
    chen.save()
    call_command("person", "list", "--json")
    rows = {r["username"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["bob"]["email_verified"], rows["chen"]["email_verified"]) == (True, False)


def test_an_email_set_in_the_admin_is_verified(admin_client, example):
    bob = fresh("bob")
    page = admin_client.get(f"/admin/people/person/{bob.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("groups", "user_permissions", "password")
    }
    data.update(
        email="bob@home.example",
        institute=bob.institute.pk,
        career_level=bob.career_level.pk,
        date_joined_0=bob.date_joined.strftime("%Y-%m-%d"),
        date_joined_1="00:00:00",
    )
    for prefix in ("memberships", "accounts"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    response = admin_client.post(f"/admin/people/person/{bob.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert (fresh("bob").email, fresh("bob").email_verified) == ("bob@home.example", True)
