"""The nodes and shift pages in a real browser, on the example site's inventory
(site.load_inventory: brecca's node[1-4] and tango's hypervisors cnode[1-2], all in
service, a local provisioner that deploys in 3 s, one image per kind of service).

No agent runs. A shift asked from the page must then stay asked, and the page must say
so while it follows it; the tests then take the agent's steps in-process
(inventory.reconcile, the function its loop calls) and watch the page follow them.
"""

import pytest

from allotment.demo import site
from allotment.inventory import reconcile
from allotment.inventory.models import Node, Outcome, Shift

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NODES = "/manage/nodes/"
SHIFTS = "/manage/shifts/"


@pytest.fixture
def inventory(settings, tmp_path):
    """The example inventory; the local engines keep their state under a fresh VAR_DIR."""
    settings.VAR_DIR = tmp_path
    site.load_inventory()


def rows_of(page, table: str) -> list[list[str]]:
    """The words in each cell of each body row of the table with class `table`, as shown."""
    return page.evaluate(
        """(cls) => [...document.querySelectorAll(`table.${cls} tbody tr`)].map(
            tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))""",
        table,
    )


def items(page) -> list[list[str]]:
    """The shift's nodes as its page shows them: node, from, outcome, state, detail."""
    return [[r[0], r[1], r[2], r[3], r[5]] for r in rows_of(page, "shift-items")]


def status(page) -> str:
    return page.locator("#shift-progress .section-head p").inner_text()


def wait_for_polls(page, count: int) -> None:
    """Wait until the page has fetched its progress part `count` more times."""
    for _ in range(count):
        with page.expect_response(lambda r: "/progress/" in r.url) as polled:
            pass
        assert polled.value.status == 200


def test_a_shift_asked_from_the_nodes_page_is_followed_live_and_aborted(
    page, sign_in, console_errors, inventory, screenshots
):
    sign_in("admin")
    page.goto(NODES)
    shown = [row[1:5] for row in rows_of(page, "node-table")]
    assert shown == [
        ["cnode1", "in_service", "tango", "r2 U1"],
        ["cnode2", "in_service", "tango", "r2 U3"],
        ["node1", "in_service", "brecca", "r1 U1"],
        ["node2", "in_service", "brecca", "r1 U3"],
        ["node3", "in_service", "brecca", "r1 U5"],
        ["node4", "in_service", "brecca", "r1 U7"],
    ]
    # Tick one node and type another, into the cloud service, one node at a time.
    form = page.locator("form.shift-form")
    form.get_by_label("Select node3").check()
    form.locator("input[name=nodes]").fill("node4")
    form.locator("select[name=service]").select_option("tango")
    form.locator("input[name=drain_timeout]").fill("30m")
    form.locator("input[name=parallel]").fill("1")
    page.screenshot(path=screenshots / "nodes.png", full_page=True)
    form.locator("button[type=submit]:has-text('Shift')").click()
    page.wait_for_url(f"**{SHIFTS}*/")

    shift = Shift.objects.get()
    assert page.url.endswith(f"{SHIFTS}{shift.pk}/")
    assert (
        f"Shift {shift.pk} asked: node[3-4] to tango." in page.locator("ul.messages").inner_text()
    )
    assert page.locator("h1").inner_text() == f"Shift {shift.pk} into tango"
    meta = page.locator(".page-head .meta").inner_text()
    assert meta.startswith("Image tango-hypervisor · drain timeout 30m · 1 at once · asked")
    assert meta.endswith("by admin (web)")
    assert status(page) == "Under way (updates every 2 s)"
    waiting = [["node3", "brecca", "Waiting for a slot", "in_service", ""],
               ["node4", "brecca", "Waiting for a slot", "in_service", ""]]  # fmt: skip
    assert items(page) == waiting
    page.evaluate("window.notReloaded = true")  # gone if the page is loaded again

    # No agent runs: the page keeps asking, and the shift stays as it was asked.
    wait_for_polls(page, 2)
    assert items(page) == waiting
    assert status(page) == "Under way (updates every 2 s)"
    assert (
        page.locator("#shift-progress .agent-down")
        .inner_text()
        .startswith("No agent runs the shift loop, so no node moves")
    )
    assert page.locator(".outcome-counts").inner_text() == (
        "all 2 · 2 waiting for a slot · 0 moving · 0 in service · 0 failed · 0 aborted"
    )
    page.screenshot(path=screenshots / "shift-asked.png", full_page=True)

    # The agent's first step on node3 (one at a time: node4 waits for its slot).
    reconcile.step(Node.objects.get(name="node3"))
    page.wait_for_function(
        "() => document.querySelector('table.shift-items tbody tr td:nth-child(3)')"
        ".innerText.trim() === 'Moving'"
    )
    assert items(page) == [
        ["node3", "brecca", "Moving", "provisioning", "deploying tango-hypervisor"],
        waiting[1],
    ]
    assert page.evaluate("window.notReloaded") is True

    page.locator("button:has-text('Abort the shift')").click()
    page.wait_for_load_state()
    assert f"Shift {shift.pk} aborted" in page.locator("ul.messages").inner_text()
    # node4 had not started: it stays in brecca. node3 is deploying: it finishes that step.
    assert status(page) == (
        "Aborting: the agent settles the nodes already moving (updates every 2 s)"
    )
    assert items(page) == [
        ["node3", "brecca", "Moving", "provisioning", "deploying tango-hypervisor"],
        ["node4", "brecca", "Aborted", "in_service", "aborted before it started"],
    ]
    assert page.locator("button:has-text('Abort the shift')").count() == 0
    shift.refresh_from_db()
    assert shift.aborted and shift.finished_at is None
    assert Node.objects.get(name="node4").shift_id is None
    page.evaluate("window.notReloaded = true")

    # The agent settles node3; the page, still polling, shows the shift finished.
    reconcile.run_until_settled(list(Node.objects.filter(name="node3")), timeout=30)
    page.wait_for_function(
        "() => document.querySelector('#shift-progress').innerText.includes('Finished')"
    )
    shift.refresh_from_db()
    assert shift.finished_at is not None
    assert status(page).endswith("(aborted)")
    assert items(page) == [
        ["node3", "brecca", "In service", "in_service", "in service in tango"],
        ["node4", "brecca", "Aborted", "in_service", "aborted before it started"],
    ]
    assert dict(shift.items.values_list("node__name", "outcome")) == {
        "node3": Outcome.DONE, "node4": Outcome.ABORTED
    }  # fmt: skip
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#shift-progress[hx-get]").count() == 0  # done: it stops polling
    page.screenshot(path=screenshots / "shift-aborted.png", full_page=True)

    page.goto(SHIFTS)
    assert rows_of(page, "shift-table")[0][::5] == [f"shift {shift.pk}", "2"]
    page.screenshot(path=screenshots / "shifts.png", full_page=True)
    assert console_errors == []


def test_a_refused_shift_says_why_and_changes_nothing(page, sign_in, console_errors, inventory):
    sign_in("admin")
    page.goto(NODES)
    form = page.locator("form.shift-form")
    form.locator("input[name=nodes]").fill("cnode1")
    form.locator("select[name=service]").select_option("tango")
    form.locator("button[type=submit]:has-text('Shift')").click()
    page.wait_for_load_state()
    assert page.url.endswith(NODES)
    errors = page.locator("form.shift-form .errors").inner_text()
    assert "The shift was refused; nothing changed:" in errors
    assert "cnode1: it is already in tango" in errors
    assert not Shift.objects.exists()
    assert console_errors == []


def test_a_researcher_may_not_open_the_nodes_or_shift_pages(page, sign_in, inventory):
    sign_in("bob")
    for url in (NODES, SHIFTS):
        response = page.goto(url)
        assert response.status == 403, url
        assert "Only site administrators may use this page." in page.inner_text("body"), url
