"""The portal as people use it, in a real browser: sign in, a project page whose charts
draw real data, a join request approved by a leader, the usage explorer's CSV export.

Each test saves screenshots of the pages it visits (see conftest.py for where).
"""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from allotment.demo import site
from allotment.people.models import Person
from allotment.projects.models import ProjectMembership
from allotment.resources.models import ResourcePool
from allotment.usage.models import DailyUsage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def people():
    """The example site with its demo usage, and passwords for its people."""
    site.load_usage()
    site.set_people_passwords(PASSWORD)
    return {p.username: p for p in Person.objects.all()}


def sign_in(page, username: str) -> None:
    page.goto("/sign-in/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def sign_out(page) -> None:
    page.context.clear_cookies()


def charts_on(page) -> list[dict]:
    """Every chart.js chart on the page: its datasets' labels and summed absolute values."""
    page.wait_for_function("() => document.querySelectorAll('canvas[data-chart]').length > 0")
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')]"
        ".every(c => window.Chart && Chart.getChart(c))"
    )
    return page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart]')].map(c => {
            const chart = Chart.getChart(c);
            return {
              id: c.dataset.chart,
              width: c.width,
              datasets: chart.data.datasets.map(d => ({
                label: d.label,
                total: d.data.reduce((s, v) => s + Math.abs(v || 0), 0),
              })),
            };
        })"""
    )


def test_sign_in_then_the_project_page_draws_its_usage(page, people, screenshots):
    page.goto("/")
    assert "/sign-in/" in page.url  # anonymous people see only the sign-in page
    page.screenshot(path=screenshots / "sign-in.png", full_page=True)

    sign_in(page, "alice")
    assert page.locator("h1").first.is_visible()
    page.screenshot(path=screenshots / "dashboard-leader.png", full_page=True)

    page.goto("/projects/ProjectA/")
    charts = charts_on(page)
    page.screenshot(path=screenshots / "project.png", full_page=True)
    assert charts, "the project page has no chart"
    for chart in charts:
        assert chart["width"] > 0
        assert chart["datasets"], f"chart {chart['id']} has no data set"
    # The usage the charts draw is the ledger's: ProjectA's demo jobs, in CPU hours.
    pool = ResourcePool.objects.get(name="CPU Hours")
    used = DailyUsage.objects.filter(
        submitted_project__pid="ProjectA", resource_pool=pool
    ).aggregate(s=Sum("used"))["s"]
    assert used and used > 0
    drawn = [d["total"] for c in charts for d in c["datasets"]]
    assert any(total > 0 for total in drawn), "every chart drew only zeros"

    page.goto("/projects/")
    page.screenshot(path=screenshots / "project-tree.png", full_page=True)
    page.goto("/people/bob/")
    page.screenshot(path=screenshots / "person.png", full_page=True)


def test_a_join_request_is_approved_by_the_projects_leader(page, people, screenshots):
    farid, project = people["farid"], "ProjectA"
    assert not ProjectMembership.objects.filter(person=farid, project__pid=project).exists()

    sign_in(page, "farid")
    page.goto(f"/apply/join/{project}/")
    page.screenshot(path=screenshots / "join-request.png", full_page=True)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    sign_out(page)

    sign_in(page, "alice")  # leads ProjectA
    page.goto("/apply/inbox/")
    page.screenshot(path=screenshots / "inbox.png", full_page=True)
    row = page.locator("form[action*='/approve/']").first
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()

    membership = ProjectMembership.objects.get(person=farid, project__pid=project)
    assert not membership.is_leader
    page.goto(f"/projects/{project}/")
    assert page.get_by_text("farid").first.is_visible()


def test_the_explorer_exports_what_it_shows_as_csv(page, people, screenshots):
    sign_in(page, "alice")
    page.goto("/usage/?metric=used&group_by=project&period=month")
    charts_on(page)
    page.screenshot(path=screenshots / "explorer.png", full_page=True)
    with page.expect_download() as download:
        page.click("a:has-text('Download CSV')")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, "the CSV is empty"
    assert set(rows[0]) == {"period", "project", "used", "unit"}
    # alice sees ProjectA and ProjectB (and InstituteA's subtree) but never InstituteC's.
    projects = {r["project"] for r in rows}
    assert projects & {"ProjectA", "ProjectB"}
    assert not projects & {"ProjectC", "ProjectD"}
    # Independently of the explorer: ProjectA's CPU hours charged, summed from the facts.
    pool = ResourcePool.objects.get(name="CPU Hours")
    facts = DailyUsage.objects.filter(submitted_project__pid="ProjectA", resource_pool=pool)
    expected = facts.aggregate(s=Sum("used"))["s"] / pool.unit_size
    exported = sum(Decimal(r["used"]) for r in rows if r["project"] == "ProjectA")
    assert abs(exported - expected) < Decimal("0.01"), (exported, expected)
