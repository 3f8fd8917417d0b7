"""Who may write which fields of a person through PATCH /api/people/ (issue 10, item 1).

alice leads InstituteA (bob and chen are its people); eve leads InstituteC and ProjectC,
whose sub-project ProjectD grace leads and farid is a member of.
"""

import pytest

from allotment.people.models import Person

EMAIL_FLOW = (
    "an email address changes only through the verified flow: POST /api/email-change/ "
    "(or the page /me/email/) sends a link to the new address."
)


@pytest.fixture
def root(example) -> Person:
    """A site administrator who belongs to InstituteA, whose leader is alice."""
    return Person.objects.create_superuser(
        "root", "root@site.example.org", "x", institute=example.projects["InstituteA"]
    )


@pytest.mark.parametrize(
    "body",
    [{"is_locked": True}, {"is_active": False}, {"email": "mallory@evil.example"},
     {"first_name": "Mallory"}, {"expires": "2000-01-01"}],
)  # fmt: skip
def test_an_institute_leader_may_not_change_a_site_administrator(client_for, root, body):
    alice = client_for("alice")
    assert alice.get("/api/people/root/").status_code == 200  # seen, as their institute's
    response = alice.patch("/api/people/root/", body, format="json")
    assert response.status_code == 403
    (field,) = body
    assert response.json() == {
        "detail": f"You may not change the field {field}: root is a site administrator, "
        "whom only site administrators may change."
    }
    root.refresh_from_db()
    assert (root.is_locked, root.is_active, root.email, root.first_name, root.expires) == (
        False, True, "root@site.example.org", "", None
    )  # fmt: skip


def test_a_staff_member_counts_as_a_site_administrator(client_for, example):
    staff = Person.objects.create_user(
        "staffer", "s@example.org", is_staff=True, institute=example.projects["InstituteA"]
    )
    response = client_for("alice").patch("/api/people/staffer/", {"is_locked": True})
    assert response.status_code == 403
    staff.refresh_from_db()
    assert not staff.is_locked


@pytest.mark.parametrize(
    "field, value",
    [("is_locked", True), ("is_active", False), ("expires", "2000-01-01"),
     ("date_approved", "2000-01-01")],
)  # fmt: skip
def test_an_institute_leader_may_not_change_a_co_leaders_account_state(
    client_for, example, field, value
):
    def state() -> tuple:
        grace = Person.objects.get(username="grace")
        return grace.is_locked, grace.is_active, grace.expires, grace.date_approved

    before = state()
    eve = client_for("eve")  # grace leads ProjectD, inside eve's subtree
    response = eve.patch("/api/people/grace/", {field: value}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"You may not change the field {field}: grace leads a project; only site "
        "administrators may change their account state "
        "(date_approved, expires, is_active, is_locked)."
    }
    assert state() == before


def test_an_institute_leader_still_edits_a_co_leaders_name_and_career_level(client_for):
    response = client_for("eve").patch(
        "/api/people/grace/", {"first_name": "Gracie", "career_level": "Postgraduate"}
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["first_name"], response.json()["career_level"]) == (
        "Gracie", "Postgraduate"
    )  # fmt: skip


def test_a_leader_may_not_change_their_own_account_state(client_for):
    # eve leads InstituteC herself: her own lock and expiry are the administrators'.
    response = client_for("eve").patch("/api/people/eve/", {"expires": "2999-12-31"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("You may not change the field expires: ")
    assert Person.objects.get(username="eve").expires is None


def test_an_institute_leader_locks_a_plain_member(client_for):
    response = client_for("eve").patch("/api/people/farid/", {"is_locked": True})
    assert response.status_code == 200, response.json()
    assert Person.objects.get(username="farid").is_locked


@pytest.mark.parametrize(("who", "target"), [("bob", "bob"), ("eve", "farid"), ("eve", "eve")])
def test_only_site_administrators_write_an_email(client_for, who, target):
    response = client_for(who).patch(
        f"/api/people/{target}/", {"email": "new@evil.example"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": f"You may not change the field email: {EMAIL_FLOW}"}
    assert Person.objects.get(username=target).email != "new@evil.example"


def test_an_email_refused_with_other_fields_names_them_all(client_for):
    response = client_for("bob").patch(
        "/api/people/bob/", {"email": "new@evil.example", "is_staff": True}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"You may not change the fields email, is_staff: {EMAIL_FLOW} You may change "
        "only first_name, last_name, title."
    }


def test_the_same_email_again_is_no_change(client_for):
    response = client_for("bob").patch(
        "/api/people/bob/", {"email": "bob@institutea.example.org", "first_name": "Robert"}
    )
    assert response.status_code == 200, response.json()


def test_a_site_administrator_writes_an_email_and_it_is_verified(admin):
    bob = Person.objects.get(username="bob")
    bob.email = "bob@elsewhere.example"  # not through set_email: unverified
    bob.save()
    response = admin.patch("/api/people/bob/", {"email": "robert@example.org"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["email_verified"] is True
    bob.refresh_from_db()
    assert (bob.email, bob.email_verified) == ("robert@example.org", True)


def test_a_site_administrator_creates_a_person_whose_email_is_verified(admin):
    response = admin.post(
        "/api/people/", {"username": "noor", "email": "noor@uni.example"}, format="json"
    )
    assert response.status_code == 201, response.json()
    noor = Person.objects.get(username="noor")
    assert (noor.email, noor.email_verified) == ("noor@uni.example", True)


def test_email_verified_is_read_only(admin):
    bob = Person.objects.get(username="bob")
    bob.email = "bob@elsewhere.example"
    bob.save()
    response = admin.patch("/api/people/bob/", {"email_verified": True}, format="json")
    assert response.status_code == 200
    assert Person.objects.get(username="bob").email_verified is False


def test_a_staff_member_may_not_change_a_superuser(example):
    from rest_framework.test import APIClient

    staff = Person.objects.create_user("ops", "ops@site.example.org", is_staff=True)
    root = Person.objects.create_superuser("root", "root@site.example.org", "x")
    client = APIClient()
    client.force_authenticate(staff)
    response = client.patch("/api/people/root/", {"email": "ops@site.example.org"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You may not change the field email: root is a superuser, whom only "
        "superusers may change."
    }
    root.refresh_from_db()
    assert root.email == "root@site.example.org"
    # A staff member still manages everyone else.
    response = client.patch("/api/people/bob/", {"is_locked": True}, format="json")
    assert response.status_code == 200, response.json()


def test_a_put_repeating_an_unverified_address_with_a_unicode_domain_leaves_it_unverified(admin):
    bob = Person.objects.get(username="bob")
    bob.set_email("bob@münchen.example", verified=False)
    bob.save()
    stored = Person.objects.get(username="bob").email
    assert stored == "bob@xn--mnchen-3ya.example"
    response = admin.patch(
        "/api/people/bob/", {"email": "bob@MÜNCHEN.example", "first_name": "Rob"}, format="json"
    )
    assert response.status_code == 200, response.json()
    bob.refresh_from_db()
    assert (bob.email, bob.email_verified, bob.first_name) == (stored, False, "Rob")
