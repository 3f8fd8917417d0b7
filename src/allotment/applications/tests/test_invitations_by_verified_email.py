"""A person's pending invitations are found by their email only once it is verified: an
address anyone may type into their profile must not reveal invitations to projects they
cannot see (issue 10, item 3)."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.exceptions import ValidationError

from allotment.applications import services
from allotment.applications.models import Invitation
from allotment.people import email as email_change
from allotment.people.models import Person
from allotment.projects.models import ProjectMembership

from .helpers import mail_to


def test_an_unverified_email_does_not_reveal_invitations(example, person, as_):
    invitation, _ = services.invite(
        example.projects["ProjectC"], "newcomer@uni.example", person("eve")
    )
    bob = person("bob")
    bob.email = "newcomer@uni.example"  # typed in, not verified
    bob.save()
    assert services.of_person(Person.objects.get(username="bob"))["invitations"] == []
    page = as_("bob").get("/apply/").content.decode()
    assert invitation.ref not in page and "ProjectC" not in page

    bob.set_email("NEWCOMER@uni.example", verified=True)
    bob.save()
    assert services.of_person(Person.objects.get(username="bob"))["invitations"] == [invitation]
    assert invitation.ref in as_("bob").get("/apply/").content.decode()


def test_invitations_one_accepted_stay_listed_whatever_the_email(example, person):
    invitation, token = services.invite(
        example.projects["ProjectC"], "farid@institutec.example.org", person("eve")
    )
    farid = person("farid")
    services.accept_invitation(token, farid)
    farid.email = ""
    farid.save()
    assert services.of_person(Person.objects.get(username="farid"))["invitations"] == [invitation]


def newcomer(token: str, username: str = "noor") -> Person:
    return services.accept_invitation_as_new_person(
        token, username=username, password="a long enough secret"
    )


def test_a_newcomer_starts_unverified_and_confirms_through_a_link(example, person, committed):
    """Whoever invited holds the invitation's link too (the API answers it), so accepting
    proves nothing about the address: the newcomer confirms it like a change of email."""
    _, token = services.invite(example.projects["ProjectA"], "Noor@Uni.Example", person("alice"))
    mail.outbox.clear()
    with committed():
        noor = newcomer(token)
    noor = Person.objects.get(pk=noor.pk)
    assert (noor.email, noor.email_verified) == ("Noor@uni.example", False)
    # They may use the project they accepted meanwhile.
    assert ProjectMembership.objects.filter(person=noor, project__pid="ProjectA").exists()
    [confirmation] = mail_to("Noor@uni.example")
    token = re.search(r"/me/email/confirm/([A-Za-z0-9_-]+)/", confirmation.body)[1]
    assert "noor" in confirmation.body
    with pytest.raises(ValidationError):
        email_change.confirm(token, person("alice"))  # the inviter cannot confirm it
    assert email_change.confirm(token, noor).email_verified


def test_an_inviter_accepting_their_own_link_sees_no_other_invitations(example, person):
    """chen (ProjectA) invites an address eve invited to ProjectD, and accepts his own
    link as a newcomer: the newcomer's unverified address lists nothing of ProjectD."""
    secret, _ = services.invite(
        example.projects["ProjectD"], "postdoc@uni.example", person("eve"), message="Secret"
    )
    _, token = services.invite(example.projects["ProjectA"], "postdoc@uni.example", person("chen"))
    mallory = newcomer(token, "mallory")
    assert not mallory.email_verified
    assert secret not in services.of_person(mallory)["invitations"]


@pytest.mark.parametrize(
    "invited",
    ["dana@instituteb.example.org", "DANA@InstituteB.example.org", " Dana@INSTITUTEB.EXAMPLE.ORG"],
)
def test_accepting_as_a_newcomer_refuses_an_address_someone_holds(example, person, invited):
    _, token = services.invite(example.projects["ProjectA"], invited, person("chen"))
    with pytest.raises(services.AddressTaken, match="belongs to an existing account: sign in"):
        newcomer(token, "mallory")
    assert not Person.objects.filter(username="mallory").exists()
    assert Invitation.objects.get(project__pid="ProjectA", state="pending")


def test_an_unverified_holder_counts_too(example, person):
    Person.objects.filter(username="dana").update(email_verified=False)
    _, token = services.invite(
        example.projects["ProjectA"], "dana@instituteb.example.org", person("chen")
    )
    with pytest.raises(services.AddressTaken):
        newcomer(token, "mallory")


def test_the_page_sends_a_holder_of_the_address_to_sign_in(example, person, client):
    _, token = services.invite(
        example.projects["ProjectA"], "DANA@instituteb.example.org", person("chen")
    )
    url = f"/apply/invitation/{token}/"
    answer = client.post(
        url,
        {"username": "mallory", "first_name": "M", "last_name": "L",
         "password": "a long enough secret", "password_again": "a long enough secret"},
    )  # fmt: skip
    assert answer.status_code == 302 and f"?next={url}" in answer["Location"]
    assert not Person.objects.filter(username="mallory").exists()
    told = [str(m) for m in get_messages(answer.wsgi_request)]
    assert any("belongs to an existing account: sign in" in m for m in told)


def test_a_lookalike_domain_is_another_address(example, person):
    """A dotless i makes another domain: it is stored as its punycode and is nobody's."""
    Person.objects.create_user("dean", "dean@university.example.org", "x", email_verified=True)
    invitation, token = services.invite(
        example.projects["ProjectA"], "dean@un\u0131versity.example.org", person("alice")
    )
    assert invitation.email == "dean@xn--unversity-wpb.example.org"
    assert newcomer(token, "other").email == "dean@xn--unversity-wpb.example.org"
    assert services.of_person(person("dean"))["invitations"] == []
