"""A project page draws the project's usage (and its sub-projects') whatever its pools.

On the example site with the demo's usage (Jan-Mar 2100) only ProjectA has allocation
pools. The other projects' pages used to fall back to the 90 days before today and say
"No usage recorded"; they now cover the span of their usage and of their grants, up to
their newest usage.
"""

import pytest
from django.urls import reverse

from allotment.usage import reports

# pid -> (first day, last day) of the usage submitted in its subtree. ProjectD's grant
# runs through 2100 but its usage ends on 03-19 (the newest disk snapshot, carried).
SPANS = {
    "ProjectB": ("2100-01-05", "2100-03-21"),
    "ProjectC": ("2100-01-01", "2100-03-19"),  # ProjectD's usage, its sub-project
    "ProjectD": ("2100-01-01", "2100-03-19"),
    "InstituteA": ("2100-01-01", "2100-03-21"),  # ProjectA's and ProjectB's
}


@pytest.mark.parametrize("pid", list(SPANS))
def test_a_project_without_pools_shows_its_usage(as_user, demo_usage, pid):
    page = as_user("admin").get(reverse("web:project", args=[pid]))
    assert page.status_code == 200
    chart = page.context["usage_chart"]
    assert (chart["labels"][0], chart["labels"][-1]) == SPANS[pid]
    cpu = next(s for s in chart["series"] if s["unit"] == "hours")
    (year,) = reports.report(project=pid, subtree=True, by="year")
    assert sum(cpu["data"]) == pytest.approx(year["used"], abs=0.001)
    assert year["used"] > 1
    text = page.content.decode()
    assert "No usage recorded" not in text and 'id="project-usage"' in text


def test_disk_between_weekly_snapshots_is_drawn_as_held(as_user, demo_usage):
    """ProjectD's disk is measured weekly from 2100-01-01: every day until the newest
    snapshot reads the latest snapshot before it, and no day is a gap."""
    chart = as_user("eve").get(reverse("web:project", args=["ProjectD"])).context["usage_chart"]
    disk = next(s for s in chart["series"] if s["unit"] == "KB")["data"]
    assert len(disk) == 78 and None not in disk and 0 not in disk
    assert disk[0:7] == [disk[0]] * 7 and disk[7] != disk[0]


def test_a_member_sees_the_usage_of_a_project_without_pools(as_user, demo_usage):
    page = as_user("bob").get(reverse("web:project", args=["ProjectB"]))
    chart = page.context["usage_chart"]
    assert (chart["labels"][0], chart["labels"][-1]) == SPANS["ProjectB"]
    assert "Daily usage submitted by ProjectB" in page.content.decode()


def test_a_parent_page_names_its_sub_projects(as_user, demo_usage):
    text = as_user("admin").get(reverse("web:project", args=["InstituteA"])).content.decode()
    assert "Daily usage submitted by InstituteA and its sub-projects" in text


def test_a_project_without_usage_still_says_so(as_user, demo_usage):
    page = as_user("admin").get(reverse("web:project", args=["InstituteB"]))
    assert page.context["usage_chart"]["series"] == []
    assert "No usage recorded" in page.content.decode()
