"""Every page for the roles allowed, and 404/403/sign-in for the others (policy-driven)."""

import pytest
from django.urls import reverse

PAGES = [
    reverse("web:dashboard"),
    reverse("web:project-tree"),
    reverse("web:project", args=["ProjectA"]),
    reverse("web:person", args=["bob"]),
    reverse("web:explorer"),
    reverse("web:explorer-csv"),
    reverse("web:grant-create"),
    reverse("web:audit-log"),
]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_people_are_sent_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login") + "?next=")


def test_sign_in_page_and_local_sign_in(client, example):
    bob = example.people["bob"]
    bob.set_password("a-long-password-9")
    bob.save()
    page = client.get(reverse("web:login"))
    assert page.status_code == 200
    assert b"Sign in with your institution" not in page.content
    response = client.post(
        reverse("web:login"), {"username": "bob", "password": "a-long-password-9"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("web:dashboard")
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_locked_people_cannot_sign_in(client, example):
    bob = example.people["bob"]
    bob.set_password("a-long-password-9")
    bob.is_locked = True
    bob.save()
    response = client.post(
        reverse("web:login"), {"username": "bob", "password": "a-long-password-9"}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_institution_button_when_oidc_is_configured(client, db, settings, monkeypatch):
    settings.OIDC_ENABLED = True
    monkeypatch.setattr("allotment.web.views.auth.reverse", lambda name: "/oidc/authenticate/")
    page = client.get(reverse("web:login"))
    assert b"Sign in with your institution" in page.content
    assert b'href="/oidc/authenticate/' in page.content


def test_sign_out_is_a_post(as_user):
    client = as_user("bob")
    assert client.get(reverse("web:logout")).status_code == 405
    response = client.post(reverse("web:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("web:login")
    assert client.get(reverse("web:dashboard")).status_code == 302


@pytest.mark.parametrize("username", ["admin", "alice", "bob", "chen", "dana", "eve", "farid"])
def test_everyone_signed_in_gets_the_common_pages(as_user, username):
    client = as_user(username)
    for name in ("web:dashboard", "web:project-tree", "web:explorer", "web:explorer-csv"):
        assert client.get(reverse(name)).status_code == 200, name
    me = reverse("web:person", args=["admin" if username == "admin" else username])
    if username == "admin":
        me = reverse("web:person", args=["root"])
    assert client.get(me).status_code == 200


@pytest.mark.parametrize(
    ("username", "visible", "hidden"),
    [
        ("admin", ["InstituteA", "ProjectA", "ProjectB", "ProjectC", "ProjectD"], []),
        ("alice", ["InstituteA", "ProjectA", "ProjectB"], ["InstituteC", "ProjectC", "ProjectD"]),
        ("bob", ["ProjectA", "ProjectB"], ["InstituteA", "InstituteC", "ProjectC", "ProjectD"]),
        ("chen", ["ProjectA"], ["ProjectB", "ProjectC"]),
        ("dana", ["InstituteB"], ["InstituteA", "ProjectA"]),
        ("eve", ["InstituteC", "ProjectC", "ProjectD"], ["ProjectA", "ProjectB"]),
        ("farid", ["ProjectD"], ["ProjectC", "ProjectA"]),
        ("grace", ["ProjectD"], ["ProjectC", "InstituteC"]),
    ],
)
def test_project_pages_follow_the_policy(as_user, username, visible, hidden):
    client = as_user(username)
    tree = client.get(reverse("web:project-tree")).content.decode()
    for pid in visible:
        assert client.get(reverse("web:project", args=[pid])).status_code == 200, pid
        assert f"/projects/{pid}/" in tree
    for pid in hidden:
        assert client.get(reverse("web:project", args=[pid])).status_code == 404, pid
        assert f"/projects/{pid}/" not in tree
    assert client.get(reverse("web:project", args=["NoSuchProject"])).status_code == 404


def test_bob_sees_nothing_of_project_c_or_d(as_user, demo_usage):
    client = as_user("bob")
    pages = [
        reverse("web:dashboard"),
        reverse("web:project-tree"),
        reverse("web:project", args=["ProjectA"]),
        reverse("web:project", args=["ProjectB"]),
        reverse("web:person", args=["bob"]),
        reverse("web:explorer") + "?group_by=project&period=year",
        reverse("web:explorer") + "?group_by=person&period=year",
        reverse("web:explorer-csv") + "?group_by=project&period=year",
    ]
    for url in pages:
        content = client.get(url).content.decode()
        for secret in ("ProjectC", "ProjectD", "farid", "grace", "InstituteC"):
            assert secret not in content, (url, secret)
    for url in (
        reverse("web:explorer") + "?project=ProjectD",
        reverse("web:explorer-csv") + "?project=ProjectC",
        reverse("web:explorer") + "?institute=InstituteC",
        reverse("web:person", args=["farid"]),
        reverse("web:person", args=["grace"]),
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    ("username", "other", "status"),
    [
        ("bob", "alice", 200),  # a fellow member of ProjectA
        ("bob", "dana", 404),
        ("alice", "chen", 200),
        ("dana", "bob", 404),
        ("eve", "farid", 200),
        ("eve", "bob", 404),
        ("farid", "grace", 200),
        ("admin", "farid", 200),
        ("bob", "nobody-at-all", 404),
    ],
)
def test_person_pages_follow_the_policy(as_user, username, other, status):
    assert as_user(username).get(reverse("web:person", args=[other])).status_code == status


@pytest.mark.parametrize("username", ["alice", "bob", "eve", "dana", "grace"])
def test_admin_pages_refuse_others(as_user, username):
    client = as_user(username)
    assert client.get(reverse("web:grant-create")).status_code == 403
    assert client.post(reverse("web:grant-create"), {}).status_code == 403
    assert client.get(reverse("web:audit-log")).status_code == 403


def test_admin_pages_for_the_administrator(as_user):
    client = as_user("admin")
    assert client.get(reverse("web:grant-create")).status_code == 200
    page = client.get(reverse("web:audit-log"))
    assert page.status_code == 200
    assert b"projects.project" in page.content
