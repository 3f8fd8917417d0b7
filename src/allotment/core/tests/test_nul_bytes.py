"""A NUL byte anywhere a query could see it is bad input (400), never a server error."""

import pytest


@pytest.mark.parametrize(
    ("path", "cookies"),
    [
        ("/api/projects/?search=a%00b", {}),
        ("/api/projects/", {"sessionid": "abc\x00def"}),
        ("/projects/a%00b/", {}),
        ("/sign-in/", {"sessionid": "\x00"}),
    ],
)
def test_a_nul_byte_is_refused_with_400(client, db, path, cookies):
    for name, value in cookies.items():
        client.cookies[name] = value
    response = client.get(path)
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_nul_byte_in_an_api_body_is_refused_with_400(db, example):
    from rest_framework.test import APIClient

    from allotment.api import tokens

    admin = example.people["alice"]
    admin.is_superuser = True
    admin.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(admin).token}")
    response = client.post(
        "/api/memberships/", {"project": "Project\x00A", "person": "bob"}, format="json"
    )
    assert response.status_code == 400
