"""The administrators' burst pages in a real browser, on the example site's bursting
(site.load_burst: brecca's partition burst into the local cloud nebula, quota 6 VMs, 12
cores, 12000 MB; tango and ec2-east disabled; its six demo jobs queued on the local batch
system: projecta 4 of 1 core, projectb 2 of 2 cores).

No agent runs: the tests take its steps in-process (services.refresh, services.run_cycle,
the functions its loops call) and watch the pages show them. The expected figures follow
from the example by hand: nebula starts at most 5 VMs at once (max_starting), so the first
decision boots 4 small VMs for projecta and 1 medium one for projectb and refuses the
sixth; what they take leaves 1 instance, 6 cores and 6000 MB free.
"""

import re

import pytest

from allotment.burst import services
from allotment.burst.models import VM, Cloud
from allotment.burst.simulation import Simulator, parse_config, store
from allotment.burst.tests.simulation_helpers import ONE_CLOUD
from allotment.demo import site
from allotment.resources.models import Machine
from allotment.web.views import burst as pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERVIEW = "/manage/burst/"
SIMULATIONS = "/manage/burst/simulations/"
CLOUDS_BEFORE = [
    ["nebula", "local", "healthy", "brecca", "0 / 6", "0 / 12", "0 / 12000", "none", "0",
     "5 starting, 10 per cycle"],
    ["tango disabled", "openstack", "unknown", "brecca", "? / ∞", "? / ∞", "? / ∞", "none", "0",
     "5 starting, 10 per cycle"],
    ["ec2-east disabled", "ec2", "unknown", "brecca", "? / ∞", "? / ∞", "? / ∞", "none", "0",
     "5 starting, 10 per cycle"],
]  # fmt: skip


@pytest.fixture
def burst_site(settings, tmp_path):
    """The example site bursting, with nebula's quota read (as the agent's refresh does).
    The local engines keep their state under VAR_DIR: a fresh folder per test."""
    settings.VAR_DIR = tmp_path
    services._servers.clear()  # the clouds' server listings, cached per process
    site.load_burst(jobs=True)
    nebula = Cloud.objects.get(machine__name="nebula")
    services.refresh(nebula)
    yield Machine.objects.get(name="brecca"), nebula
    services._servers.clear()


@pytest.fixture
def fast_polls(monkeypatch):
    """The overview's live part and chart polled every second (5 s and 60 s on a site), so
    the test waits less; the polling itself is the page's."""
    monkeypatch.setattr(pages, "POLL_SECONDS", 1)
    monkeypatch.setattr(pages, "CHART_POLL_SECONDS", 1)


def rows_of(page, table: str) -> list[list[str]]:
    """The words in each cell of each body row of the table with class `table`, as shown."""
    return page.evaluate(
        """(cls) => [...document.querySelectorAll(`table.${cls} tbody tr`)].map(
            tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))""",
        table,
    )


def vms_chart(page) -> dict:
    """The VMs-per-cloud chart as Chart.js drew it: canvas size, and each cloud's points."""
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas[data-chart=burst-vms-chart]');"
        " return c && window.Chart && Chart.getChart(c); }"
    )
    return page.evaluate(
        """() => {
            const canvas = document.querySelector('canvas[data-chart=burst-vms-chart]');
            const chart = Chart.getChart(canvas);
            return {
              width: canvas.clientWidth, height: canvas.clientHeight,
              series: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data])),
            };
        }"""
    )


def test_the_overview_shows_the_clouds_and_shows_new_vms_without_a_reload(
    page, sign_in, console_errors, burst_site, fast_polls, screenshots
):
    brecca, _ = burst_site
    sign_in("admin")
    page.goto(OVERVIEW)
    assert rows_of(page, "burst-clouds") == CLOUDS_BEFORE
    assert rows_of(page, "burst-supply") == [
        ["nebula", "healthy", "1", "0", "0", "0", "6", "12", "12000"],
        ["tango disabled", "unknown", "2", "0", "0", "0", "not usable"],
        ["ec2-east disabled", "unknown", "3", "0", "0", "0", "not usable"],
    ]
    # No decision yet, so no demand is known, and no agent runs: the page says both.
    live = page.locator("#burst-live")
    assert "No decision yet: the agent's burst loop has not run for brecca." in live.inner_text()
    assert "The agent seems not to run." in live.inner_text()
    assert rows_of(page, "burst-projects") == [["No job waiting and no VM alive."]]
    chart = vms_chart(page)
    assert chart["width"] > 0 and chart["height"] > 0
    assert sorted(chart["series"]) == ["ec2-east", "nebula", "tango"]
    assert chart["series"]["nebula"][-1] == 0
    page.screenshot(path=screenshots / "burst-overview-before.png", full_page=True)
    page.evaluate("window.notReloaded = true")  # gone if the page is loaded again

    cycle = services.run_cycle(brecca)  # the agent's decision
    assert (cycle.idle_jobs, cycle.boots) == (6, 5)
    page.wait_for_function(
        "() => document.querySelector('#burst-live').innerText.includes('Last decision')"
    )
    assert [row[:6] for row in rows_of(page, "burst-clouds")] == [
        ["nebula", "local", "healthy", "brecca", "0 / 6", "0 / 12"],
        *[row[:6] for row in CLOUDS_BEFORE[1:]],
    ]
    assert rows_of(page, "burst-clouds")[0][8] == "5"  # ours
    assert rows_of(page, "burst-supply")[0] == [
        "nebula", "healthy", "1", "5 (5 requested)", "0", "5", "1", "6", "6000"
    ]  # fmt: skip
    # Demand per project: idle jobs, live VMs, VM hours used, allocated (this year), left.
    assert rows_of(page, "burst-projects") == [
        ["projecta", "4", "4", "0", "200", "200"],
        ["projectb", "2", "1", "0", "50", "50"],
    ]
    assert rows_of(page, "burst-refusals") == [["throttle: VMs starting", "1"]]
    stats = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#burst-live .stat')].map(
            s => [s.querySelector('.stat-label').textContent, s.querySelector('.stat-value')
                  .textContent]))"""
    )
    # 6 VMs wanted (6 jobs, no VM yet), 5 booted: 1 still short (the throttle's refusal).
    assert stats == {"idle jobs (2 groups)": "6", "running jobs": "0", "VMs booted": "5",
                     "VMs still short": "1"}  # fmt: skip
    # The chart is polled too: nebula's line now ends at the 5 VMs asked for.
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas[data-chart=burst-vms-chart]');"
        " const d = c && window.Chart && Chart.getChart(c);"
        " return d && d.data.datasets.some(s => s.label === 'nebula' && s.data.at(-1) === 5); }"
    )
    assert vms_chart(page)["width"] > 0
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=screenshots / "burst-overview.png", full_page=True)
    assert console_errors == []


def test_a_vm_is_retired_from_its_page(page, sign_in, console_errors, burst_site, screenshots):
    brecca, _ = burst_site
    services.run_cycle(brecca)
    vm = VM.objects.order_by("name").first()
    assert not vm.retire_asked
    sign_in("admin")
    page.goto("/manage/burst/vms/")
    assert len(rows_of(page, "burst-vms")) == 5
    page.screenshot(path=screenshots / "burst-vms.png", full_page=True)
    page.locator("table.burst-vms").get_by_role("link", name=vm.name, exact=True).click()
    page.wait_for_url(f"**/manage/burst/vms/{vm.pk}/")
    page.screenshot(path=screenshots / "burst-vm.png", full_page=True)
    page.click("a.button:has-text('Retire')")
    page.wait_for_url(f"**/manage/burst/vms/{vm.pk}/retire/")
    page.click(f"button[type=submit]:has-text('Retire {vm.name}')")
    page.wait_for_url(f"**/manage/burst/vms/{vm.pk}/")

    vm.refresh_from_db()
    assert vm.retire_asked
    assert f"VM {vm.name}: retirement asked." in page.locator("ul.messages").inner_text()
    assert "retirement asked" in page.locator(".page-head .meta").inner_text()
    assert page.locator("a.button:has-text('Retire')").count() == 0  # not offered twice
    others = VM.objects.exclude(pk=vm.pk)
    assert not others.filter(retire_asked=True).exists()  # only the one asked for
    assert console_errors == []


def test_a_stored_simulation_is_listed_and_shows_its_figures_and_plot(
    page, sign_in, console_errors, screenshots
):
    # The simulator tests' tiny trace, worked out by hand there: 3 of its 4 jobs run (one
    # needs 4 cores, more than any flavor), on 3 VMs; waits 90, 95 and 90 s; 740 VM-seconds
    # at 0.36 a core-hour.
    sim = Simulator(parse_config(ONE_CLOUD))
    sim.add_job(0, 100, 1, account="a")
    sim.add_job(5, 50, 1, account="a")
    sim.add_job(200, 10, 4, account="b")
    sim.add_job(300, 20, 1, account="a")
    run = store(sim.run(), "tiny.swf.gz", "one-cloud.yaml", ONE_CLOUD)

    sign_in("admin")
    page.goto(SIMULATIONS)
    (listed,) = rows_of(page, "table")  # run, when, trace, clouds, jobs run, VMs a day,
    # mean and 95th percentile waits, cost
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", listed[1]), listed
    assert listed[:1] + listed[2:] == [
        str(run), "tiny.swf.gz", "one-cloud.yaml", "3", "3.0", "91.7", "95.0", "0.07"
    ]  # fmt: skip
    page.screenshot(path=screenshots / "burst-simulations.png", full_page=True)
    page.locator("table").get_by_role("link", name=str(run), exact=True).click()
    page.wait_for_url(f"**{SIMULATIONS}{run}/")
    figures = dict(
        page.evaluate(
            """() => [...document.querySelectorAll('.card table tr')]
                .filter(tr => tr.querySelector('th') && tr.querySelector('td'))
                .map(tr => [tr.querySelector('th').innerText, tr.querySelector('td').innerText])"""
        )
    )
    assert figures["jobs run"] == "3"
    assert figures["jobs that fit no flavor"] == "1"
    assert figures["VMs booted"] == "3"
    assert figures["wait, mean and 95th percentile (s)"] == "91.7 and 95.0"
    assert figures["cost"] == "0.07"
    assert figures["nimbus"] == "0.21"  # VM hours by cloud: 740 s
    plot = page.locator(".plot svg")
    box = plot.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0
    assert plot.locator("polyline").count() == 3  # idle jobs, VMs, waits
    page.screenshot(path=screenshots / "burst-simulation.png", full_page=True)
    assert console_errors == []


def test_a_researcher_may_not_open_the_burst_pages(page, sign_in, burst_site):
    sign_in("bob")
    for url in (OVERVIEW, "/manage/burst/live/", "/manage/burst/vms/", SIMULATIONS):
        response = page.goto(url)
        assert response.status == 403, url
        assert "Only site administrators may use this page." in page.inner_text("body"), url
