"""Refusals are JSON naming the field, in the model's words; bad input is never a 500."""

import pytest

from allotment.grants.models import Grant


def test_a_models_rule_is_a_400_naming_the_field_in_the_clis_words(admin, example):
    response = admin.post(
        "/api/grants/",
        {"project": "ProjectA", "scheme": "ET", "begins": "2100-12-31", "expires": "2100-01-01"},
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["errors"]["expires"]
    assert message.endswith(
        "a grant must begin on or before it expires; it begins 2100-12-31 and expires 2100-01-01."
    )


def test_a_rule_about_no_single_field_is_under_non_field_errors(admin, example):
    response = admin.post(
        "/api/memberships/", {"project": "ProjectA", "person": "bob"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "non_field_errors": ['Bob Brennan (bob) is already a member of project "ProjectA".']
        }
    }


def test_a_bad_project_id_is_refused_by_the_models_validator(admin, example):
    response = admin.post("/api/projects/", {"pid": "no spaces", "name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["pid"][0].startswith("Enter a valid project id")


@pytest.mark.parametrize(
    "url, body, field",
    [
        (
            "/api/allocations/",
            {"grant": "abc", "period": "2100", "resource_pool": "CPU Hours", "quantity": 1},
            "grant",
        ),
        (
            "/api/allocations/",
            {"grant": 10**30, "period": "2100", "resource_pool": "CPU Hours", "quantity": 1},
            "grant",
        ),
        (
            "/api/allocations/",
            {"grant": 1, "period": "2100", "resource_pool": "CPU Hours", "quantity": 10**30},
            "quantity",
        ),
        (
            "/api/allocations/",
            {"grant": 1, "period": "2100", "resource_pool": "CPU Hours", "quantity": "lots"},
            "quantity",
        ),
        (
            "/api/allocations/",
            {"grant": 1, "period": ["2100"], "resource_pool": "CPU Hours", "quantity": 1},
            "period",
        ),
        (
            "/api/grants/",
            {
                "project": "ProjectA",
                "scheme": "ET",
                "begins": "2100-13-45",
                "expires": "2100-12-31",
            },
            "begins",
        ),
        (
            "/api/grants/",
            {"project": "Nowhere", "scheme": "ET", "begins": "2100-01-01", "expires": "2100-12-31"},
            "project",
        ),
        ("/api/machines/", {"name": "m", "category": "default", "cores": 2**40}, "cores"),
        (
            "/api/machines/",
            {"name": "m", "category": "default", "time_zone": "Mars/Olympus"},
            "time_zone",
        ),
        ("/api/people/", {"username": "bad name!"}, "username"),
        (
            "/api/resources/",
            {"name": "r", "machine": "brecca", "pool": "CPU Hours", "quantity": -1},
            "quantity",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin, example, url, body, field):
    response = admin.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/allocations/?grant=abc",
        "/api/allocations/?grant=1.5",
        "/api/allocations/?grant=99999999999999999999999999",
        "/api/projects/?active=perhaps",
        "/api/grants/?active_on=2100-02-30",
        "/api/periods/?on=yesterday",
        "/api/projects/?limit=abc",
    ],
)
def test_bad_query_parameters_are_400_or_ignored_never_500(admin, example, url):
    response = admin.get(url)
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"
    if response.status_code == 400:
        assert "errors" in response.json()


@pytest.mark.parametrize(
    "url",
    [
        "/api/memberships/abc/",
        "/api/memberships/999999999999999999999999/",
        "/api/no-such/",
        "/api/projects/no such/",
        "/api/grants/-1/",
    ],
)
def test_unknown_objects_and_paths_are_json_404s(admin, example, url):
    response = admin.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_method_not_allowed_is_a_json_405(admin, example):
    response = admin.post("/api/usage/report/", {})
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}


def test_a_body_that_is_not_json_is_a_400(admin, example):
    response = admin.post("/api/schemes/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_an_allocation_under_a_grant_of_another_project_is_refused_by_the_model(admin, example):
    # A grant for period 2100 whose dates do not overlap: the model says why.
    grant = Grant.objects.create(
        project=example.projects["ProjectB"],
        scheme=example.scheme,
        begins="2200-01-01",
        expires="2200-12-31",
    )
    response = admin.post(
        "/api/allocations/",
        {"grant": grant.pk, "period": "2100", "resource_pool": "CPU Hours", "quantity": 1},
        format="json",
    )
    assert response.status_code == 400
    assert "does not overlap" in response.json()["errors"]["grant"][0]
