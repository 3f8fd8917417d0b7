"""A person's pending invitations are found by their email only once it is verified: an
address anyone may type into their profile must not reveal invitations to projects they
cannot see (issue 10, item 3)."""

from allotment.applications import services
from allotment.people.models import Person


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


def test_a_newcomer_who_accepts_has_the_invited_email_verified(example, person):
    """The link reached them at that address: that is the proof a change of email asks for."""
    _, token = services.invite(example.projects["ProjectA"], "noor@uni.example", person("alice"))
    noor = services.accept_invitation_as_new_person(
        token, username="noor", password="a long enough secret"
    )
    assert (noor.email, Person.objects.get(username="noor").email_verified) == (
        "noor@uni.example",
        True,
    )
