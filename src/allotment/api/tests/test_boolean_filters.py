"""A yes/no filter given another word is a 400 naming it, never "no filter": a typo must
not widen a list to every row (django-filter's own BooleanFilter ignores such words)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/projects/?active=maybe", "active"),
        ("/api/people/?locked=perhaps", "locked"),
        ("/api/nodes/?protected=maybe", "protected"),
        ("/api/nodes/?maintenance=2", "maintenance"),
        ("/api/shifts/?active=sure", "active"),
        ("/api/vms/?live=maybe", "live"),
    ],
)
def test_a_yes_no_filter_refuses_other_words(admin, url, parameter):
    response = admin.get(url)
    assert response.status_code == 400, response.content
    assert parameter in response.json()["errors"]


@pytest.mark.parametrize("word, active", [("true", True), ("yes", True), ("1", True),
                                          ("false", False), ("no", False), ("0", False),
                                          ("", None)])  # fmt: skip
def test_a_yes_no_filter_reads_the_usual_words(admin, example, word, active):
    from allotment.projects.models import Project

    Project.objects.filter(pid__in=["ProjectB", "ProjectD"]).update(is_active=False)
    response = admin.get(f"/api/projects/?active={word}&page_size=100")
    assert response.status_code == 200, response.content
    pids = {row["pid"] for row in response.json()["results"]}
    everyone = set(Project.objects.values_list("pid", flat=True))
    inactive = {"ProjectB", "ProjectD"}
    expected = {True: everyone - inactive, False: inactive, None: everyone}[active]
    assert pids == expected
