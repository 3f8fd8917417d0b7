"""The administrators' burst pages: /manage/burst/ (live, with its chart), a cloud's page and
settings form, the VM list and a VM's page with its retire confirmation; site administrators
only. The site is test_api's `burst_rows` (nimbus healthy with burst1-4, stratus unhealthy).
"""

# The fixtures are imported from test_api, and each test naming one looks to ruff like a
# redefinition.
# ruff: noqa: F811

from __future__ import annotations

import html
import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from allotment.burst.models import VM, Cloud
from allotment.burst.tests.test_api import UNHEALTHY, burst_rows, vm_id, vm_pool  # noqa: F401
from allotment.people.models import Person
from allotment.web.views import burst as pages

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("web:burst")
VMS = reverse("web:burst-vms")


def text(response) -> str:
    """The page's words without its tags, spaces collapsed."""
    assert response.status_code == 200, response.status_code
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def rows(response, table: str) -> list[list[str]]:
    """The cells' words of each body row of the table with class `table` (not the single
    cell of an empty table's row: "No VM.", "Not read yet.")."""
    page = response.content.decode()
    found = re.search(rf'<table class="[^"]*\b{table}\b[^"]*">(.*?)</table>', page, re.S)
    assert found, f"no table {table}"
    body = re.search(r"<tbody>(.*?)</tbody>", found.group(1), re.S).group(1)
    cells = [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split())
         for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]  # fmt: skip
    return [row for row in cells if len(row) > 1]


def chart(response) -> dict:
    page = response.content.decode()
    found = re.search(r'<script id="burst-vms-chart" type="application/json">(.*?)</script>', page)
    return json.loads(found.group(1))


@pytest.fixture
def admin(example) -> Client:
    client = Client()
    client.force_login(Person.objects.create_superuser("burst-root", "root@example.org"))
    return client


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(Person.objects.get(username=username))
    return client


# -- the overview --------------------------------------------------------------------------


def test_the_overview_shows_demand_against_supply_per_cloud_and_project(admin, vm_pool):
    response = admin.get(OVERVIEW)
    words = text(response)
    assert f'href="{OVERVIEW}"' in response.content.decode()  # the menu link
    assert "brecca partition burst" in words
    assert "4 idle jobs (2 groups) 1 running jobs 1 VMs booted 1 VMs still short" in words
    assert rows(response, "burst-refusals") == [["no room on any cloud", "2"]]
    assert rows(response, "burst-supply") == [
        ["nimbus", "healthy", "10", "3 (1 booting, 1 busy, 1 idle)", "2", "1", "1", "4", "4000"],
        ["stratus", "unhealthy", "20", "0", "0", "0", "not usable"],
    ]
    assert rows(response, "burst-projects") == [
        ["projecta", "3", "2", "0", "10", "10"],
        ["projectb", "1", "1", "—", "—", "0"],
    ]


def test_the_overview_shows_each_clouds_quota_and_an_unhealthy_one_plainly(admin, burst_rows):
    response = admin.get(OVERVIEW)
    assert "stratus (since" in text(response)
    assert f"3 failed calls in a row): {UNHEALTHY}" in text(response)
    assert rows(response, "burst-clouds") == [
        ["nimbus", "local", "healthy", "brecca", "3 / 4", "4 / 8", "4000 / 8000", "none", "3",
         "3 starting, 10 per cycle"],
        ["stratus", "local", "unhealthy " + UNHEALTHY, "brecca", "? / ∞", "? / ∞", "? / ∞",
         "none", "0", "5 starting, 10 per cycle"],
    ]  # fmt: skip


def test_the_live_part_is_polled_and_served_alone(admin, burst_rows):
    page = admin.get(OVERVIEW).content.decode()
    live = reverse("web:burst-live")
    assert f'hx-get="{live}" hx-trigger="every 5s"' in page
    part = admin.get(live)
    assert "<html" not in part.content.decode()
    assert rows(part, "burst-refusals") == [["no room on any cloud", "2"]]


def test_the_chart_counts_vms_per_cloud_over_the_hours_chosen(admin, burst_rows, monkeypatch):
    monkeypatch.setattr(pages, "CHART_POINTS", 7)
    data = chart(admin.get(OVERVIEW, {"hours": 6}))
    assert [(s["label"], s["data"]) for s in data["series"]] == [
        ("nimbus", [0, 1, 1, 0, 1, 2, 3]), ("stratus", [0] * 7),
    ]  # fmt: skip
    assert len(data["labels"]) == 7
    part = admin.get(reverse("web:burst-chart"), {"hours": 6})
    assert "VMs per cloud, last 6 h" in text(part)
    assert chart(part) == data


@pytest.mark.parametrize(("asked", "shown"), [(10**9, 744), ("-3", 1), ("a week", 24)])
def test_the_charts_window_is_bounded(admin, burst_rows, asked, shown):
    response = admin.get(OVERVIEW, {"hours": asked})
    assert f"VMs per cloud, last {shown} h" in text(response)
    assert len(chart(response)["labels"]) == pages.CHART_POINTS


# -- a cloud -------------------------------------------------------------------------------


def test_a_clouds_page_shows_its_flavors_images_backoffs_and_latest_vms(admin, burst_rows):
    response = admin.get(reverse("web:burst-cloud", args=["nimbus"]))
    assert rows(response, "cloud-flavors") == [
        ["local.small", "f1", "1", "1000", "0", "yes"],
        ["local.medium", "f2", "2", "2000", "0", "yes"],
    ]
    assert [r[:3] for r in rows(response, "cloud-images")] == [
        ["burst-worker", "img-burst-worker", "active"]
    ]
    assert [r[:4] for r in rows(response, "cloud-backoffs")] == [
        ["local.medium", "old-image", "2", rows(response, "cloud-backoffs")[0][3]]
    ]
    assert rows(response, "cloud-backoffs")[0][4] == "boot failed: no host"
    assert [r[0] for r in rows(response, "burst-vms")] == ["burst3", "burst2", "burst1", "burst4"]
    stratus = text(admin.get(reverse("web:burst-cloud", args=["stratus"])))
    assert "Unhealthy since" in stratus and UNHEALTHY in stratus
    assert admin.get(reverse("web:burst-cloud", args=["cumulus"])).status_code == 404


def settings_form(cloud: str = "nimbus", **changes) -> dict:
    """The settings form as the page fills it in, with `changes`."""
    found = Cloud.objects.get(machine__name=cloud)
    data = {name: getattr(found, name) for name in pages.SETTINGS}
    data["images"], data["tags"] = ", ".join(found.images), ", ".join(found.tags)
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(changes)
    if not data["enabled"]:
        del data["enabled"]  # an unticked box is not sent
    return data


def test_the_settings_form_changes_the_cloud_through_the_catalog(admin, burst_rows):
    url = reverse("web:burst-cloud", args=["nimbus"])
    response = admin.post(url, settings_form(
        priority=3, price_per_core_hour="0.5", max_cores=6, tags="gpu, data:vospace",
        enabled=False,
    ), follow=True)  # fmt: skip
    assert "Cloud nimbus: enabled, max_cores, price_per_core_hour, priority, tags changed" in (
        text(response)
    )
    cloud = Cloud.objects.get(machine__name="nimbus")
    assert (cloud.priority, cloud.price_per_core_hour, cloud.max_cores, cloud.tags,
            cloud.enabled, cloud.images) == (3, Decimal("0.5"), 6, ["gpu", "data:vospace"],
                                             False, [])  # fmt: skip
    again = admin.post(url, settings_form(), follow=True)
    assert "Cloud nimbus: nothing changed." in text(again)


def test_the_settings_form_refuses_by_field_and_changes_nothing(admin, burst_rows):
    before = Cloud.objects.values().get(machine__name="nimbus")
    response = admin.post(
        reverse("web:burst-cloud", args=["nimbus"]), settings_form(boot_timeout=0, priority=2)
    )
    assert response.status_code == 200
    assert 'Cloud "nimbus": boot_timeout must be a whole number of seconds above 0' in (
        text(response)
    )
    assert Cloud.objects.values().get(machine__name="nimbus") == before
    assert 'name="options"' not in response.content.decode()  # never on the page's form


# -- VMs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["burst3", "burst2", "burst1", "burst4"]),
        ({"state": "idle"}, ["burst1"]),
        ({"cloud": "stratus"}, []),
        ({"project": "ProjectB", "live": "true"}, ["burst3"]),
        ({"state": "asleep"}, []),  # not a state: nothing, never everything
        ({"live": "maybe"}, []),
    ],
)
def test_the_vm_list_filters_only_narrow(admin, burst_rows, query, expected):
    assert [r[0] for r in rows(admin.get(VMS, query), "burst-vms")] == expected


def test_the_vm_list_is_paged(admin, burst_rows, monkeypatch):
    monkeypatch.setattr(pages, "VMS_PER_PAGE", 2)
    response = admin.get(VMS, {"page": 2})
    assert [r[0] for r in rows(response, "burst-vms")] == ["burst1", "burst4"]
    assert "Page 2 of 2 · 4 VMs" in text(response)
    assert rows(response, "burst-vms")[0][1:] == [
        "idle", "nimbus", "brecca", "local.small", "1", "1000", "ProjectA",
        rows(response, "burst-vms")[0][8], "—",
    ]  # fmt: skip


def test_a_vms_page_shows_its_history_and_offers_retiring_it(admin, burst_rows):
    pk = vm_id("burst1")
    response = admin.get(reverse("web:burst-vm", args=[pk]))
    assert [r[1:5] for r in rows(response, "vm-history")] == [
        ["booting", "idle", "registered", "burst1 is up in brecca"],
        ["requested", "booting", "boot", "server s-1 asked"],
    ]
    assert f'href="{reverse("web:burst-vm-retire", args=[pk])}"' in response.content.decode()
    deleted = admin.get(reverse("web:burst-vm", args=[vm_id("burst4")])).content.decode()
    assert "burst-vm-retire" not in deleted and "Retire…" not in deleted
    assert admin.get(reverse("web:burst-vm", args=[999999])).status_code == 404


def test_retiring_asks_for_confirmation_then_asks_once(admin, burst_rows):
    pk = vm_id("burst1")
    url = reverse("web:burst-vm-retire", args=[pk])
    confirm = text(admin.get(url))
    assert "Retire burst1? burst1 (id" in confirm and "is idle on nimbus" in confirm
    assert VM.objects.get(pk=pk).retire_asked is False  # asking to confirm changes nothing
    done = admin.post(url, follow=True)
    assert "VM burst1: retirement asked." in text(done)
    assert VM.objects.get(pk=pk).retire_asked is True
    assert "Retire…" not in done.content.decode()
    refused = admin.post(reverse("web:burst-vm-retire", args=[vm_id("burst4")]), follow=True)
    assert "is deleted already: there is nothing to retire" in text(refused)
    assert VM.objects.get(name="burst4").retire_asked is False


# -- who may -------------------------------------------------------------------------------


def get_pages() -> list[str]:
    return [
        OVERVIEW,
        reverse("web:burst-live"),
        reverse("web:burst-chart"),
        reverse("web:burst-cloud", args=["nimbus"]),
        VMS,
        reverse("web:burst-vm", args=[vm_id("burst2")]),
        reverse("web:burst-vm-retire", args=[vm_id("burst2")]),
    ]


@pytest.mark.parametrize("username", ["alice", "chen", "bob", "eve"])
def test_anyone_but_a_site_administrator_is_refused_and_changes_nothing(burst_rows, username):
    client = signed_in(username)
    for url in get_pages():
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("web:burst-cloud", args=["nimbus"]),
                       settings_form(priority=1)).status_code == 403  # fmt: skip
    assert client.post(reverse("web:burst-vm-retire", args=[vm_id("burst2")])).status_code == 403
    assert Cloud.objects.get(machine__name="nimbus").priority == 10
    assert VM.objects.get(name="burst2").retire_asked is False
    assert f'href="{OVERVIEW}"' not in client.get(reverse("web:dashboard")).content.decode()


def test_anonymous_is_sent_to_sign_in(burst_rows):
    for url in get_pages():
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            reverse("web:login")
        ), url
