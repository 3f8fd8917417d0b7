"""What the pages show: roles, pools, usage numbers, the CSV export, the grant form."""

import csv
import io
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from allotment.grants.models import Allocation, Grant

MARCH_1 = 4107542400  # 2100-03-01T00:00:00Z
HOUR, DAY = 3600, 86400


@pytest.fixture
def jobs(example, tmp_path):
    """Three jobs: alice 2 h x 2 cores and bob 1 h x 3 cores in ProjectA on brecca (March),
    farid 1 h x 1 core in ProjectD on tango (April; 1.5 h charged)."""
    from allotment.usage import ingest

    rows = {
        "brecca": [
            (1, "alice", "ProjectA", MARCH_1, MARCH_1 + 2 * HOUR, 2),
            (2, "bob", "ProjectA", MARCH_1 + DAY, MARCH_1 + DAY + HOUR, 3),
        ],
        "tango": [(3, "farid", "ProjectD", MARCH_1 + 31 * DAY, MARCH_1 + 31 * DAY + HOUR, 1)],
    }
    for machine, lines in rows.items():
        path = tmp_path / f"{machine}.csv"
        path.write_text(
            "job_id,user,account,start,end,cores\n"
            + "".join(",".join(map(str, line)) + "\n" for line in lines)
        )
        ingest.import_files([path], ingest.Options(format="csv", machine=machine))
    return example


def test_csv_export_is_exact(as_user, jobs):
    client = as_user("admin")
    response = client.get(reverse("web:explorer-csv") + "?metric=used&group_by=person&period=month")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "period,person,used,unit",
        "2100-03,alice,4,hours",
        "2100-03,bob,3,hours",
        "2100-04,farid,1.5,hours",
    ]
    bob = as_user("bob").get(reverse("web:explorer-csv") + "?group_by=project&period=year")
    assert list(csv.reader(io.StringIO(bob.content.decode()))) == [
        ["period", "project", "used", "unit"],
        ["2100", "ProjectA", "7", "hours"],
    ]
    bad = client.get(reverse("web:explorer-csv") + "?period=fortnight")
    assert bad.status_code == 400


def test_explorer_page_and_its_htmx_partial(as_user, jobs):
    client = as_user("admin")
    url = reverse("web:explorer") + "?metric=jobs&group_by=machine&period=year"
    page = client.get(url).content.decode()
    assert "<html" in page and 'id="explorer-chart"' in page and 'hx-get="' in page
    assert "Download CSV" in page and "metric=jobs" in page
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'id="explorer-chart"' in partial
    assert '"labels": ["2100"]' in partial
    refused = client.get(
        reverse("web:explorer") + "?metric=cpu_hours_per_job&resource_pool=Disk+Space"
    )
    assert "is about batch jobs" in refused.content.decode()


def test_project_page_shows_members_roles_pools_and_charts(as_user, jobs):
    page = as_user("bob").get(reverse("web:project", args=["ProjectA"]))
    text = page.content.decode()
    assert "primary contact" in text and "supervisor" in text and "Student" in text
    pools = {p.pool: p for p in page.context["pools"]}
    assert (pools["CPU Hours"].allocated, pools["CPU Hours"].used) == (60, 7)
    assert pools["CPU Hours"].remaining == 53
    burn = {c["title"]: c["data"] for c in page.context["burn_charts"]}
    used = burn["CPU Hours"]["series"][0]["data"]
    assert burn["CPU Hours"]["labels"][59:61] == ["2100-03-01", "2100-03-02"]
    assert used[58:61] == [0, 4, 7]  # cumulative: alice's 4 h on 03-01, bob's 3 h on 03-02
    assert burn["CPU Hours"]["series"][1]["data"][0] == 60
    usage = page.context["usage_chart"]
    cpu = next(s for s in usage["series"] if s["unit"] == "hours")
    assert sum(cpu["data"]) == 7
    assert 'id="project-usage"' in text and "portal-charts.js" in text


def test_project_page_period_selector(as_user, example):
    from datetime import date

    from allotment.core.validation import save_validated
    from allotment.grants.models import AllocationPeriod
    from allotment.grants.services import allocate, create_grant

    period = save_validated(
        AllocationPeriod(name="2101", start=date(2101, 1, 1), end=date(2101, 12, 31))
    )
    grant = create_grant(example.projects["ProjectA"], example.scheme, period.start, period.end)
    allocate(grant, period, example.pools["CPU Hours"], Decimal(5))
    client = as_user("alice")
    page = client.get(reverse("web:project", args=["ProjectA"]) + "?period=2100")
    assert {p.pool: p.allocated for p in page.context["pools"]} == {
        "CPU Hours": 60,
        "Disk Space": 600,
    }
    other = client.get(reverse("web:project", args=["ProjectA"]) + "?period=2101")
    assert {p.pool: p.allocated for p in other.context["pools"]} == {"CPU Hours": 5}


def test_person_page_memberships_accounts_and_usage(as_user, jobs):
    page = as_user("bob").get(reverse("web:person", args=["bob"]))
    text = page.content.decode()
    assert "<code>bob</code>" in text  # the account on the default category
    assert [m.project.pid for m in page.context["memberships"]] == ["ProjectA", "ProjectB"]
    assert [(s.label, s.values) for s in page.context["usage"].groups] == [("CPU Hours", [3])]
    # chen supervises ProjectA: sees bob's ProjectA membership only, not ProjectB.
    seen = as_user("chen").get(reverse("web:person", args=["bob"]))
    assert [m.project.pid for m in seen.context["memberships"]] == ["ProjectA"]


def test_dashboards_per_role(as_user, jobs):
    admin = as_user("admin").get(reverse("web:dashboard"))
    assert admin.context["is_admin"] and "Recent changes" in admin.content.decode()
    assert dict(admin.context["admin"]["counts"])["Projects"] == 7
    alice = as_user("alice").get(reverse("web:dashboard"))
    led = {item["project"].pid: item["pools"] for item in alice.context["led"]}
    assert set(led) == {"InstituteA", "ProjectA", "ProjectB"}
    cpu = next(p for p in led["ProjectA"] if p.pool == "CPU Hours")
    assert round(cpu.percent_used, 2) == round(7 / 60 * 100, 2)
    assert "Projects you lead" in alice.content.decode()
    bob = as_user("bob").get(reverse("web:dashboard"))
    assert "led" not in bob.context and not bob.context["is_admin"]
    assert [(s.label, s.total) for s in bob.context["usage"].groups] == [("CPU Hours", 3)]
    assert "Recent changes" not in bob.content.decode()


def grant_post(example, **pools):
    data = {
        "project": "ProjectB",
        "scheme": example.scheme.pk,
        "begins": "2100-01-01",
        "expires": "2100-12-31",
        "period": example.period.pk,
    }
    for name, quantity in pools.items():
        data[f"pool_{example.pools[name].pk}"] = quantity
    return data


def test_grant_form_creates_the_grant_and_its_allocations(as_user, example):
    client = as_user("admin")
    response = client.post(
        reverse("web:grant-create"), grant_post(example, **{"CPU Hours": "25", "Disk Space": ""})
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:project", args=["ProjectB"])
    grant = Grant.objects.get(project__pid="ProjectB")
    assert [
        (a.allocation_pool.resource_pool.name, a.quantity) for a in grant.allocations.all()
    ] == [("CPU Hours", Decimal(25))]


def test_grant_form_is_all_or_nothing(as_user, example):
    client = as_user("admin")
    grants, allocations = Grant.objects.count(), Allocation.objects.count()
    response = client.post(
        reverse("web:grant-create"),
        grant_post(example, **{"CPU Hours": "25", "Disk Space": "-5"}),
    )
    assert response.status_code == 200
    form = response.context["form"]
    disk = form.pool_field(example.pools["Disk Space"])
    assert form.errors[disk] == ["An allocation's quantity cannot be negative (-5)."]
    assert (Grant.objects.count(), Allocation.objects.count()) == (grants, allocations)
    assert not Grant.objects.filter(project__pid="ProjectB").exists()


def test_grant_form_shows_the_models_messages_next_to_fields(as_user, example):
    client = as_user("admin")
    data = grant_post(example, **{"CPU Hours": "1"})
    data["expires"] = "2099-12-31"
    response = client.post(reverse("web:grant-create"), data)
    errors = response.context["form"].errors
    assert "a grant must begin on or before it expires" in errors["expires"][0]
    assert not Grant.objects.filter(project__pid="ProjectB").exists()


def test_audit_log_filters_and_pages(as_user, example):
    client = as_user("admin")
    everything = client.get(reverse("web:audit-log"))
    assert everything.context["page"].paginator.count == LogEntry.objects.count()
    assert everything.context["page"].paginator.per_page == 50
    filtered = client.get(
        reverse("web:audit-log") + "?model=projects.project&object=ProjectC&action=0"
    )
    entries = list(filtered.context["page"])
    assert [e.object_repr for e in entries] == ["ProjectC"]
    assert client.get(reverse("web:audit-log") + "?page=2").status_code == 200
    none = client.get(reverse("web:audit-log") + "?actor=nobody")
    assert none.context["page"].paginator.count == 0


def test_a_site_administrator_who_leads_sees_every_pending_join_request(as_user, example):
    """The badge by "Projects you lead" counts what the viewer may decide: for a site
    administrator, every pending request (not none, as when "all" was read as empty)."""
    from allotment.applications.services import request_to_join

    alice = example.people["alice"]
    alice.is_staff = True
    alice.save()
    request_to_join(example.people["bob"], example.projects["ProjectD"])
    page = as_user("alice").get(reverse("web:dashboard"))
    assert page.context["is_admin"]
    assert page.context["led_join_requests"] == 1
    assert page.context["admin"]["join_requests"] == 1
    assert "New grant" in page.content.decode()  # the menu's site-administrator links
