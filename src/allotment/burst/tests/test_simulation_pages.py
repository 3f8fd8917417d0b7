"""The stored simulations' pages: the list of runs and a run's figures and plot; site
administrators only."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from allotment.burst.models import SimulationRun
from allotment.people.models import Person

pytestmark = pytest.mark.django_db

SUMMARY = {
    "jobs_run": 3, "jobs_fit_nowhere": 1, "jobs_never_run": 0, "vms_booted": 3,
    "vms_per_day": {"mean": 2.5, "max": 3, "full_days": 2}, "wait_mean_s": 91.7,
    "wait_p95_s": 95.0, "utilisation": 0.5, "cost": {"total": 0.07, "by_cloud": {"a": 0.07}},
    "vm_hours_by_cloud": {"a": 0.21}, "vm_hours_by_project": {"p1": 0.21},
    "refusals": {"quota: cores": 4}, "from": "2010-05-01T00:00:00", "to": "2010-05-03T00:00:00",
}  # fmt: skip
SERIES = {"t": [0, 3600, 7200], "idle_jobs": [2, 0, 0], "vms": [0, 3, 1], "wait_s": [None, 90, 95]}


def words(response) -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def run(example) -> SimulationRun:
    return SimulationRun.objects.create(
        trace="<b>RICC</b>.swf.gz", clouds="clouds.yaml", summary=SUMMARY, series=SERIES
    )


@pytest.fixture
def admin(example) -> Client:
    client = Client()
    client.force_login(Person.objects.create_superuser("sim-root", "sim@example.org"))
    return client


def test_the_list_shows_each_stored_run_with_its_figures(admin, run):
    text = words(admin.get(reverse("web:burst-simulations")))
    assert f"{run.pk} " in text and "<b>RICC</b>.swf.gz clouds.yaml 3 2.5 91.7 95.0 0.07" in text


def test_a_run_shows_its_figures_and_a_plot_of_its_series(admin, run):
    response = admin.get(reverse("web:burst-simulation", args=[run.pk]))
    text = words(response)
    assert "VMs booted a day 2.5 on average, 3 at most (2 full days)" in text
    assert "wait, mean and 95th percentile (s) 91.7 and 95.0" in text
    assert "quota: cores 4" in text and "p1 0.21" in text
    page = response.content.decode()
    assert page.count("<polyline") == 3  # idle jobs, VMs, waits
    assert "<b>RICC</b>" not in page  # the trace's name is escaped, in the title too


def test_an_unknown_run_is_not_found(admin, example):
    assert admin.get(reverse("web:burst-simulation", args=[999999])).status_code == 404


@pytest.mark.parametrize("username", ["alice", "bob", "chen", "eve"])
def test_only_site_administrators_see_simulations(run, username):
    client = Client()
    client.force_login(Person.objects.get(username=username))
    for url in (reverse("web:burst-simulations"), reverse("web:burst-simulation", args=[run.pk])):
        assert client.get(url).status_code == 403
