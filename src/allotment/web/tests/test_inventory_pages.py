"""The administrators' inventory and shift pages: who may use them, what the filters and the
shift form do, and the live progress of a shift, on the example site's inventory with the
local engines (brecca: node[1-4]; tango: cnode[1-2]; spare1 in no service)."""

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from allotment.core import fsm
from allotment.inventory import drivers
from allotment.inventory.models import Node, Outcome, Shift, ShiftNode
from allotment.inventory.reconcile import run_until_settled
from allotment.inventory.services import nodes_named, request_shift, set_nodes
from allotment.inventory.tests.conftest import inventory  # noqa: F401
from allotment.web.views import inventory as pages

NODES = reverse("web:nodes")


def listed(response) -> list[str]:
    """The node names in the page's table (or racks), in order."""
    return re.findall(r'name="node" value="([^"]+)"', response.content.decode())


def text(html: str) -> str:
    """The page's words without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def failed_node(brecca, tango, name="node3") -> Node:
    """`name` in drain_timeout: a job that does not end, a zero drain timeout, no force."""
    drivers.service(brecca).add_work(name, "job42", seconds=600)
    request_shift(nodes_named(name), tango, drain_timeout=timedelta(0))
    run_until_settled(nodes_named(name), timeout=10)
    node = Node.objects.get(name=name)
    assert node.state == "drain_timeout"
    return node


@pytest.fixture
def shift(inventory):  # noqa: F811
    _, tango = inventory
    return request_shift(nodes_named("node[3-4]"), tango, parallel=1)


# -- who may use them ----------------------------------------------------------------------


def get_pages(shift) -> list[str]:
    return [
        NODES,
        NODES + "?view=racks",
        reverse("web:node", args=["node3"]),
        reverse("web:shifts"),
        reverse("web:shift", args=[shift.pk]),
        reverse("web:shift-progress", args=[shift.pk]),
    ]


def post_pages(shift) -> list[tuple[str, dict]]:
    return [
        (NODES, {"node": ["node1"], "service": "tango", "drain_timeout": "1h", "parallel": 1}),
        (reverse("web:node-action", args=["node3"]), {"action": "abort"}),
        (reverse("web:shift-abort", args=[shift.pk]), {}),
    ]


def test_administrators_see_every_page(as_user, shift):
    client = as_user("admin")
    for url in get_pages(shift):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(NODES).content.decode()
    assert f'href="{NODES}"' in page  # the menu link


def test_everyone_else_is_refused_every_page_and_every_post(client, as_user, shift):
    before = [(n.name, n.state, n.shift_id) for n in Node.objects.all()]
    for url in get_pages(shift):
        assert client.get(url).status_code == 302, url  # anonymous: to sign in
    for url, data in post_pages(shift):
        assert client.post(url, data).status_code == 302, url
    for username in ("alice", "bob"):  # an institute leader; a member
        leader = as_user(username)
        for url in get_pages(shift):
            assert leader.get(url).status_code == 403, (username, url)
        for url, data in post_pages(shift):
            assert leader.post(url, data).status_code == 403, (username, url)
    assert [(n.name, n.state, n.shift_id) for n in Node.objects.all()] == before
    assert Shift.objects.count() == 1
    assert Shift.objects.get().aborted is False


def test_a_post_without_the_csrf_token_is_refused(inventory, admin):  # noqa: F811
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    data = {"node": ["node1"], "service": "tango", "drain_timeout": "1h", "parallel": 1}
    assert client.post(NODES, data).status_code == 403
    assert Shift.objects.count() == 0


# -- the inventory -------------------------------------------------------------------------


def test_the_table_shows_each_nodes_fields(as_user, inventory):  # noqa: F811
    set_nodes(nodes_named("node2"), {"tags": ["gpu", "ib"], "gpus": 4, "protected": True})
    set_nodes(nodes_named("node1"), {"maintenance": True, "maintenance_reason": "bad DIMM"})
    page = as_user("admin").get(NODES).content.decode()
    row = re.search(r'value="node2".*?</tr>', page, re.S).group(0)
    for text in ("in_service", "brecca", "r1", ">64<", "250 GiB", ">4<", "gpu", "ib", "protected"):
        assert text in row, text
    row1 = re.search(r'value="node1".*?</tr>', page, re.S).group(0)
    assert "maintenance" in row1 and "bad DIMM" in row1
    assert listed(as_user("admin").get(NODES)) == [
        "cnode1", "cnode2", "node1", "node2", "node3", "node4", "spare1"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "query, expected",
    [
        ("state=in_service", ["cnode1", "cnode2", "node1", "node2", "node4"]),
        ("state=enrolled", ["spare1"]),
        ("state=@failed", ["node3"]),
        ("service=tango", ["cnode1", "cnode2"]),
        ("service=@none", ["spare1"]),
        ("rack=r2", ["cnode1", "cnode2", "spare1"]),
        ("tag=gpu", ["node1", "spare1"]),
        ("tag=GPU", []),  # tags are exact
        ("tag=gp", []),  # whole tags only
        ("q=node", ["cnode1", "cnode2", "node1", "node2", "node3", "node4"]),
        ("q=NODE1", ["cnode1", "node1"]),
        ("q=node&service=brecca&rack=r1&state=in_service", ["node1", "node2", "node4"]),
        ("service=nosuch", ["cnode1", "cnode2", "node1", "node2", "node3", "node4", "spare1"]),
    ],
)
def test_the_filters_filter(as_user, inventory, query, expected):  # noqa: F811
    brecca, tango = inventory
    set_nodes(nodes_named("node1,spare1"), {"tags": ["gpu"]})
    set_nodes(nodes_named("node2"), {"tags": ["gpu-a100", "xgpu"]})
    failed_node(brecca, tango, "node3")
    response = as_user("admin").get(f"{NODES}?{query}")
    assert response.status_code == 200
    assert listed(response) == expected
    if query == "service=nosuch":  # an unknown choice is an error shown, not a wider list
        assert "Select a valid choice" in response.content.decode()


def test_the_list_is_paged(as_user, inventory):  # noqa: F811
    Node.objects.bulk_create(Node(name=f"z{i:03d}", state="enrolled") for i in range(120))
    client = as_user("admin")
    first = client.get(f"{NODES}?q=z")
    assert listed(first) == [f"z{i:03d}" for i in range(50)]
    assert "Page 1 of 3 · 120 nodes" in first.content.decode()
    assert listed(client.get(f"{NODES}?q=z&page=3")) == [f"z{i:03d}" for i in range(100, 120)]


def test_the_rack_view_orders_by_unit_and_colours_by_service(as_user, inventory):  # noqa: F811
    brecca, tango = inventory
    for unit, name in enumerate(["node4", "node2", "node1", "node3"], start=1):
        set_nodes(nodes_named(name), {"rack_unit": unit})
    failed_node(brecca, tango, "node3")
    response = as_user("admin").get(f"{NODES}?view=racks")
    page = response.content.decode()
    assert listed(response) == ["node4", "node2", "node1", "node3", "cnode1", "cnode2", "spare1"]
    colour = {m.name: i for i, m in enumerate(pages.shift_services())}
    assert re.search(rf'class="rack-node svc-{colour["brecca"]} state-stable"[^>]*node4', page)
    assert re.search(rf'class="rack-node svc-{colour["tango"]} state-stable"[^>]*cnode1', page)
    assert re.search(r'class="rack-node svc-none state-stable"[^>]*spare1', page)
    assert re.search(r'class="rack-node svc-\d state-failed"[^>]*node3: drain_timeout', page)
    assert "2 racks" in page


def test_the_rack_view_pages_racks_and_caps_a_rack(as_user, inventory, monkeypatch):  # noqa: F811
    monkeypatch.setattr(pages, "RACKS_PER_PAGE", 2)
    monkeypatch.setattr(pages, "NODES_PER_RACK", 2)
    Node.objects.bulk_create(
        Node(name=f"x{i}", rack=f"r{3 + i % 2}", rack_unit=i, state="enrolled") for i in range(6)
    )
    client = as_user("admin")
    first = client.get(f"{NODES}?view=racks")
    assert listed(first) == ["node1", "node2", "cnode1", "cnode2"]  # r1, r2: two each
    assert "2 more" in first.content.decode() and "1 more" in first.content.decode()
    assert "Page 1 of 2 · 4 racks" in first.content.decode()
    assert listed(client.get(f"{NODES}?view=racks&page=2")) == ["x0", "x2", "x1", "x3"]


def test_ten_thousand_nodes_stay_one_page(as_user, inventory, django_assert_max_num_queries):  # noqa: F811
    Node.objects.bulk_create(
        (Node(name=f"n{i:05d}", rack=f"rack{i // 40:03d}", rack_unit=i % 40 + 1, cpus=64,
              state="enrolled", tags=["bulk"]) for i in range(10_000)),
        batch_size=2000,
    )  # fmt: skip
    client = as_user("admin")
    client.get(NODES)  # warm the session and templates
    for url, rows in (
        (NODES, 50),
        (f"{NODES}?view=racks&tag=bulk", 12 * 40),
        (f"{NODES}?tag=bulk", 50),
    ):
        started = time.perf_counter()
        with django_assert_max_num_queries(12):
            response = client.get(url)
        elapsed = time.perf_counter() - started
        assert len(listed(response)) == rows, url
        assert elapsed < 2.0, f"{url} took {elapsed:.2f} s"
        print(f"TIMING {url} {elapsed * 1000:.0f} ms")


# -- shifting a selection ------------------------------------------------------------------


def test_a_shift_asked_on_the_page_names_the_ticked_and_ranged_nodes(as_user, inventory, admin):  # noqa: F811
    response = as_user("admin").post(
        NODES,
        {"node": ["node1", "node2"], "nodes": "node[2-3]", "service": "tango", "image": "",
         "drain_timeout": "90m", "force": "on", "parallel": "2"},
    )  # fmt: skip
    shift = Shift.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:shift", args=[shift.pk])
    assert sorted(i.node.name for i in shift.items.all()) == ["node1", "node2", "node3"]
    assert (shift.to_service.name, shift.image.name, shift.drain_timeout, shift.force) == (
        "tango", "cloud", timedelta(minutes=90), True
    )  # fmt: skip
    assert (shift.parallel, shift.created_by, shift.via) == (2, admin, "web")
    assert {i.from_service.name for i in shift.items.all()} == {"brecca"}
    assert set(Node.objects.filter(shift=shift).values_list("name", flat=True)) == {
        "node1", "node2", "node3"
    }  # fmt: skip
    # the request changed desired state only: the agent has not moved anyone yet
    assert set(Node.objects.filter(name__startswith="node").values_list("state", flat=True)) == {
        "in_service"
    }


def test_a_refused_shift_names_the_node_and_changes_nothing(as_user, inventory):  # noqa: F811
    set_nodes(nodes_named("node2"), {"protected": True})
    response = as_user("admin").post(
        NODES + "?rack=r1",
        {"nodes": "node[1-2]", "service": "tango", "drain_timeout": "2h", "parallel": "10"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "nothing changed" in page
    assert "node2: it is protected" in page
    assert Shift.objects.count() == 0
    assert not Node.objects.filter(shift__isnull=False).exists()
    assert listed(response) == ["node1", "node2", "node3", "node4"]  # the filter kept


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nodes": "node[9-10]"}, "No node named node[9-10] in the inventory"),
        ({"nodes": "node[1-"}, "is not a node name or range"),
        ({"node": ["node1", "ghost"]}, "No node named ghost"),
        ({}, "Tick the nodes to shift, or name them"),
        ({"nodes": "node1", "drain_timeout": "soon"}, "is not a duration"),
        ({"nodes": "node1", "parallel": "100000"}, "less than or equal to"),
        ({"nodes": "node1", "image": "hpc"}, "Image &quot;hpc&quot; is for batch services"),
        ({"nodes": "cnode1", "service": "brecca", "drain_timeout": "31d"}, "between 0 and 30"),
    ],
)
def test_bad_requests_say_why_and_change_nothing(as_user, inventory, data, message):  # noqa: F811
    form = {"service": "tango", "drain_timeout": "2h", "parallel": "10", **data}
    response = as_user("admin").post(NODES, form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Shift.objects.count() == 0


def test_ticked_nodes_stay_ticked_when_refused(as_user, inventory):  # noqa: F811
    set_nodes(nodes_named("node2"), {"protected": True})
    response = as_user("admin").post(
        NODES, {"node": ["node2", "node4"], "service": "tango", "drain_timeout": "2h",
                "parallel": "10"}
    )  # fmt: skip
    ticked = re.findall(r'value="([^"]+)" aria-label="[^"]*" checked', response.content.decode())
    assert ticked == ["node2", "node4"]


# -- shifts and their progress -------------------------------------------------------------


def test_the_shift_list_counts_outcomes(as_user, shift):
    page = as_user("admin").get(reverse("web:shifts")).content.decode()
    assert f"shift {shift.pk}" in page
    assert "0 in service · 0 moving · 2 waiting" in text(page)
    assert "open" in page
    assert (
        f"shift {shift.pk}"
        not in as_user("admin").get(reverse("web:shifts") + "?status=finished").content.decode()
    )


def test_the_progress_partial_polls_until_the_shift_ends(as_user, shift):
    client = as_user("admin")
    url = reverse("web:shift-progress", args=[shift.pk])
    waiting = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in waiting
    assert f'hx-get="{url}"' in waiting
    assert waiting.count("Waiting for a slot") == 2
    assert "<html" not in waiting  # a fragment, not a page

    from allotment.inventory.reconcile import step

    node3 = Node.objects.get(name="node3")
    step(node3)  # takes the one slot (parallel=1) and starts moving
    moving = client.get(url).content.decode()
    node3_row = re.search(r"<tr class=\"outcome-row-moving\">.*?</tr>", moving, re.S).group(0)
    node3.refresh_from_db()
    item = ShiftNode.objects.get(shift=shift, node=node3)
    assert node3.state not in ("in_service", "enrolled") and item.detail
    assert "node3" in node3_row and f">{node3.state}<" in node3_row and item.detail in node3_row
    assert "1 moving" in moving and "1 waiting for a slot" in moving

    run_until_settled(nodes_named("node[3-4]"), timeout=30)
    done = client.get(url).content.decode()
    assert "hx-trigger" not in done  # finished: polling stops
    assert done.count('class="tag outcome-tag-done"') == 2
    assert "2 in service" in done and "Finished" in done
    assert client.get(url + "?outcome=failed").content.decode().count("<tr class=") == 0


def test_the_detail_page_embeds_the_live_part(as_user, shift):
    page = as_user("admin").get(reverse("web:shift", args=[shift.pk])).content.decode()
    assert f"<h1>Shift {shift.pk}" in page
    assert 'id="shift-progress"' in page and 'hx-trigger="every 2s"' in page
    assert "htmx.min.js" in page
    assert "drain timeout 2h ·" in page


def test_the_shift_page_says_when_no_agent_runs_the_shift_loop(as_user, shift):
    from django.utils import timezone

    from allotment.agent.models import AgentProcess

    url = reverse("web:shift-progress", args=[shift.pk])
    client = as_user("admin")
    assert "No agent runs the shift loop" in text(client.get(url).content.decode())
    now = timezone.now()
    AgentProcess.objects.create(identity="h:1:a", host="h", pid=1, started=now, last_seen=now,
                                loops="burst.decide")  # fmt: skip
    assert "No agent runs the shift loop" in text(client.get(url).content.decode())
    AgentProcess.objects.create(identity="h:2:a", host="h", pid=2, started=now, last_seen=now,
                                loops="burst.decide,inventory.shift")  # fmt: skip
    assert "No agent runs the shift loop" not in text(client.get(url).content.decode())


@pytest.mark.parametrize(
    "span, expected",
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=2, seconds=5), "2d5s"),
    ],
)
def test_drain_timeouts_read_as_the_cli_takes_them(span, expected):
    assert pages.span_text(span) == expected


def test_a_failed_node_is_offered_its_actions_and_abort_works(as_user, inventory):  # noqa: F811
    brecca, tango = inventory
    node = failed_node(brecca, tango)
    shift = node.shift
    client = as_user("admin")
    page = client.get(reverse("web:shift", args=[shift.pk])).content.decode()
    offered = re.findall(r'name="action" value="(\w+)"', page)
    assert offered == [str(a) for a in fsm.actions(node)] == ["retry", "force", "abort"]
    assert "job42" in page  # the error says what still runs
    back = reverse("web:shift", args=[shift.pk])
    response = client.post(
        reverse("web:node-action", args=["node3"]), {"action": "abort", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    node.refresh_from_db()
    assert node.state == "in_service"  # abort: back into service
    assert ShiftNode.objects.get(shift=shift, node=node).outcome == Outcome.ABORTED
    change = fsm.history(node).order_by("-at", "-id").first()
    assert (change.event, change.via, change.actor.username) == ("abort", "web", "root")


def test_an_action_not_offered_is_refused_with_a_message(as_user, inventory):  # noqa: F811
    client = as_user("admin")
    response = client.post(
        reverse("web:node-action", args=["node1"]), {"action": "force"}, follow=True
    )
    assert "Node node1: it is in_service, which offers nothing; not &quot;force&quot;." in (
        response.content.decode()
    )
    assert Node.objects.get(name="node1").state == "in_service"
    response = client.post(
        reverse("web:node-action", args=["node1"]),
        {"action": "retry", "next": "https://elsewhere.example/"},
    )
    assert response["Location"] == reverse("web:node", args=["node1"])  # no open redirect


def test_aborting_a_shift_on_the_page(as_user, shift):
    client = as_user("admin")
    response = client.post(reverse("web:shift-abort", args=[shift.pk]), follow=True)
    assert "aborted" in response.content.decode()
    shift.refresh_from_db()
    assert shift.aborted
    assert set(shift.items.values_list("outcome", flat=True)) == {Outcome.ABORTED}
    assert not Node.objects.filter(shift=shift).exists()
    assert "hx-trigger" not in response.content.decode()  # nothing left to follow
    again = client.post(reverse("web:shift-abort", args=[shift.pk]), follow=True)
    assert "Abort the shift" not in again.content.decode()


def test_a_nodes_page_shows_its_fields_history_and_shifts(as_user, inventory):  # noqa: F811
    _, tango = inventory
    request_shift(nodes_named("node4"), tango)
    run_until_settled(nodes_named("node4"), timeout=30)
    set_nodes(nodes_named("node4"), {"tags": ["gpu"], "macs": ["52:54:00:00:00:04"]})
    page = as_user("admin").get(reverse("web:node", args=["node4"])).content.decode()
    assert "<h1>node4</h1>" in page and "52:54:00:00:00:04" in page
    moves = re.findall(r"<td><strong>(\w+)</strong></td>", page)
    path = [c.to_state for c in fsm.history(Node.objects.get(name="node4"))]
    assert moves == list(reversed(path))  # newest first
    assert moves[0] == "in_service" and moves[-1] == "in_service"
    assert re.search(r"shift \d+</a></td><td>brecca</td><td>tango</td>", page)
    assert as_user("admin").get(reverse("web:node", args=["nosuch"])).status_code == 404


def test_a_shifts_nodes_and_a_nodes_history_are_paged(as_user, shift, monkeypatch):
    monkeypatch.setattr(pages, "ITEMS_PER_PAGE", 1)
    monkeypatch.setattr(pages, "HISTORY_PER_PAGE", 1)
    client = as_user("admin")
    detail = reverse("web:shift", args=[shift.pk])
    first = client.get(reverse("web:shift-progress", args=[shift.pk])).content.decode()
    assert "node3" in first and "node4" not in first
    assert f'href="{detail}?page=2"' in first  # the pager leads to the page, not the partial
    second = client.get(reverse("web:shift-progress", args=[shift.pk]) + "?page=2")
    assert "node4" in second.content.decode() and "node3" not in second.content.decode()
    run_until_settled(nodes_named("node[3-4]"), timeout=30)
    history = client.get(reverse("web:node", args=["node3"]) + "?page=2").content.decode()
    assert "Page 2 of 8 · 8 moves" in text(history)
