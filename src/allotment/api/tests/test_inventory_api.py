"""/api/nodes/ and /api/shifts/: site administrators only; every write through the inventory's
services, so the API refuses what the CLI refuses, in the same words, and changes nothing then.

The inventory fixture (inventory/tests/conftest.py): node[1-4] in brecca (rack r1, 64 cpus),
cnode[1-2] in tango (rack r2), spare1 enrolled in none (rack r2); local engines.
"""

# The inventory fixture is imported from the inventory's tests, and each test naming it
# looks to ruff like a redefinition.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from allotment.core.models import StateChange
from allotment.inventory import drivers
from allotment.inventory.models import Node, Outcome, Shift
from allotment.inventory.reconcile import run_until_settled
from allotment.inventory.services import MAX_NODES_PER_REQUEST, nodes_named
from allotment.inventory.tests.conftest import inventory  # noqa: F401

ALL = ["cnode1", "cnode2", "node1", "node2", "node3", "node4", "spare1"]


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["name"] for row in response.json()["results"]]


def node(name: str) -> Node:
    return Node.objects.select_related("service").get(name=name)


# Reads -----------------------------------------------------------------------------------


def test_the_list_is_paged_and_filtered(admin, inventory):
    assert names(admin.get("/api/nodes/")) == ALL
    page = admin.get("/api/nodes/", {"limit": 2, "offset": 2}).json()
    assert (page["count"], [r["name"] for r in page["results"]]) == (7, ["node1", "node2"])
    assert names(admin.get("/api/nodes/", {"names": "node[2-3],cnode1,node9"})) == [
        "cnode1", "node2", "node3",
    ]  # fmt: skip
    assert names(admin.get("/api/nodes/", {"service": "tango"})) == ["cnode1", "cnode2"]
    assert names(admin.get("/api/nodes/", {"rack": "r2"})) == ["cnode1", "cnode2", "spare1"]
    assert names(admin.get("/api/nodes/", {"state": "enrolled"})) == ["spare1"]
    assert names(admin.get("/api/nodes/", {"state": "in_service", "rack": "r1"})) == [
        "node1", "node2", "node3", "node4",
    ]  # fmt: skip
    row = admin.get("/api/nodes/", {"names": "node1"}).json()["results"][0]
    assert (row["state"], row["service"], row["cpus"], row["actions"]) == (
        "in_service", "brecca", 64, [],
    )  # fmt: skip
    assert "history" not in row  # only a node's own page holds its history


def test_the_tag_filter_matches_a_whole_tag(admin, inventory):
    Node.objects.filter(name="node2").update(tags=["gpu", "a100"])
    Node.objects.filter(name="node3").update(tags=["gpu-less"])
    assert names(admin.get("/api/nodes/", {"tag": "gpu"})) == ["node2"]
    assert names(admin.get("/api/nodes/", {"tag": "a100", "rack": "r1"})) == ["node2"]
    assert names(admin.get("/api/nodes/", {"tag": "gp"})) == []


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"names": "node[3-"}, "names", 'node[3-" is not a node name or range'),
        ({"names": f"n[1-{MAX_NODES_PER_REQUEST + 1}]"}, "names", "at most 10,000 at once"),
        ({"state": "asleep"}, "state", "asleep"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(admin, inventory, query, field, words):
    response = admin.get("/api/nodes/", query)
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])


def test_a_node_shows_its_latest_history_newest_first(admin, inventory):
    n1 = node("node1")
    kind = ContentType.objects.get_for_model(Node)
    start = timezone.now()
    StateChange.objects.bulk_create(
        StateChange(content_type=kind, object_id=n1.pk, from_state="in_service",
                    to_state="in_service", event="drain", reason=f"move {i}",
                    at=start + timedelta(seconds=i))
        for i in range(120)
    )  # fmt: skip
    body = admin.get("/api/nodes/node1/").json()
    assert (body["name"], body["service"], body["state"], body["rack"]) == (
        "node1", "brecca", "in_service", "r1",
    )  # fmt: skip
    assert body["history_total"] == 121  # the import's adopt, and the 120 above
    assert len(body["history"]) == 100
    assert [h["reason"] for h in body["history"][:2]] == ["move 119", "move 118"]
    assert body["history"][-1]["reason"] == "move 20"
    assert admin.get("/api/nodes/node9/").status_code == 404


# PATCH -----------------------------------------------------------------------------------


def test_patch_sets_the_settable_fields(admin, inventory):
    response = admin.patch(
        "/api/nodes/node2/",
        {"tags": ["gpu"], "rack_unit": 12, "maintenance": True,
         "maintenance_reason": "fan", "provisioner": None},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    n2 = node("node2")
    assert (n2.tags, n2.rack_unit, n2.maintenance, n2.maintenance_reason, n2.provisioner) == (
        ["gpu"], 12, True, "fan", None,
    )  # fmt: skip
    assert response.json()["maintenance_reason"] == "fan"
    # Maintenance off clears its reason (services.set_nodes), as `allot node set` does.
    admin.patch("/api/nodes/node2/", {"maintenance": False}, format="json")
    assert (node("node2").maintenance, node("node2").maintenance_reason) == (False, "")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"state": "available"}, "state", "read-only"),
        ({"service": "tango"}, "service", "only through a shift"),
        ({"shift": 1}, "shift", "read-only"),
        ({"name": "node9"}, "name", "read-only"),
        ({"colour": "red", "rack": "r9"}, "colour", "not a field of a node"),
        ({"maintenance_reason": "fan"}, "maintenance_reason", "needs maintenance on"),
        ({"provisioner": "nowhere"}, "provisioner", 'no provisioner "nowhere"'),
        ({"cpus": -1}, "cpus", "greater than or equal to 0"),
        ({"tags": "gpu"}, "tags", "list"),
        ({}, "non_field_errors", "at least one field"),
    ],
)
def test_patch_refuses_what_is_not_settable_and_changes_nothing(admin, inventory, body, field,
                                                                 words):  # fmt: skip
    before = Node.objects.filter(name="node1").values().get()
    response = admin.patch("/api/nodes/node1/", body, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])
    assert Node.objects.filter(name="node1").values().get() == before


def test_put_and_delete_are_not_offered(admin, inventory):
    assert admin.put("/api/nodes/node1/", {"rack": "r9"}, format="json").status_code == 405
    assert admin.delete("/api/nodes/node1/").status_code == 405
    assert admin.post("/api/nodes/", {"name": "node9"}, format="json").status_code == 405
    assert not Node.objects.filter(name="node9").exists()


# Import ----------------------------------------------------------------------------------


def test_import_a_csv_body(admin, inventory):
    text = "name,rack,cpus,tags\nn[01-03],r3,16,gpu;ib\nnode1,r9,,\n"
    response = admin.generic("POST", "/api/nodes/import/", text, content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": ["n01", "n02", "n03"], "updated": ["node1"],
                               "adopted": []}  # fmt: skip
    assert (node("n02").rack, node("n02").cpus, node("n02").tags) == ("r3", 16, ["gpu", "ib"])
    assert node("node1").rack == "r9"


def test_import_a_yaml_body_and_a_multipart_upload(admin, inventory):
    text = "nodes:\n  - name: m1\n    cpus: 8\n    service: brecca\n"
    response = admin.generic("POST", "/api/nodes/import/", text, content_type="application/yaml")
    assert response.json() == {"created": ["m1"], "updated": [], "adopted": ["m1"]}
    assert (node("m1").state, node("m1").service.name) == ("in_service", "brecca")

    upload = SimpleUploadedFile("racks.csv", b"name,rack\nm2,r7\n", content_type="text/csv")
    response = admin.post("/api/nodes/import/", {"file": upload}, format="multipart")
    assert response.json() == {"created": ["m2"], "updated": [], "adopted": []}


def test_an_import_error_names_the_line_and_imports_nothing(admin, inventory):
    text = "name,cpus\nfresh1,4\nfresh2,many\n"
    response = admin.generic("POST", "/api/nodes/import/", text, content_type="text/csv")
    assert response.status_code == 400
    (message,) = response.json()["errors"]["non_field_errors"]
    assert message.startswith("body.csv:3: cpus: 'many'")
    assert not Node.objects.filter(name__startswith="fresh").exists()

    upload = SimpleUploadedFile("racks.yaml", b"- name: fresh3\n  rack: [r1\n")
    response = admin.post("/api/nodes/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"][0].startswith("racks.yaml:")
    assert not Node.objects.filter(name__startswith="fresh").exists()


def test_an_import_in_another_format_is_refused(admin, inventory):
    upload = SimpleUploadedFile("racks.txt", b"name\nfresh1\n")
    response = admin.post("/api/nodes/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "neither CSV nor YAML" in response.json()["errors"]["file"][0]
    response = admin.post("/api/nodes/import/", {"name": "fresh1"}, format="json")
    assert response.status_code == 415
    assert not Node.objects.filter(name__startswith="fresh").exists()


# Shifts ----------------------------------------------------------------------------------


def test_a_shift_is_asked_then_followed_to_its_end(admin, inventory, admin_person):
    response = admin.post(
        "/api/shifts/", {"nodes": "node[3-4]", "to_service": "tango"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["to_service"], body["image"], body["nodes"], body["created_by"], body["via"]) == (
        "tango", "cloud", "node[3-4]", "api-admin", "api",
    )  # fmt: skip
    assert (body["drain_timeout_seconds"], body["parallel"], body["force"]) == (7200, 10, False)
    assert body["progress"] == {"waiting": 2, "moving": 0, "done": 0, "failed": 0,
                                "aborted": 0, "total": 2, "finished": False}  # fmt: skip
    assert [(i["node"], i["state"], i["outcome"], i["from_service"]) for i in body["items"]] == [
        ("node3", "in_service", "waiting", "brecca"), ("node4", "in_service", "waiting", "brecca"),
    ]  # fmt: skip
    assert node("node3").shift_id == body["id"]

    run_until_settled(nodes_named("node[3-4]"), timeout=30)
    body = admin.get(f"/api/shifts/{body['id']}/").json()
    assert [(i["node"], i["state"], i["outcome"]) for i in body["items"]] == [
        ("node3", "in_service", "done"), ("node4", "in_service", "done"),
    ]  # fmt: skip
    assert body["progress"]["done"] == 2 and body["progress"]["finished"] is True
    assert body["finished_at"] is not None
    assert node("node4").service.name == "tango"
    listed = admin.get("/api/shifts/").json()
    assert (listed["count"], listed["results"][0]["progress"]["done"]) == (1, 2)
    assert names(admin.get("/api/nodes/", {"service": "tango"})) == [
        "cnode1", "cnode2", "node3", "node4",
    ]  # fmt: skip


def test_the_shift_options_are_passed_on(admin, inventory):
    response = admin.post(
        "/api/shifts/",
        {"nodes": "cnode1", "to_service": "brecca", "image": "hpc",
         "drain_timeout_seconds": 60, "force": True, "parallel": 3},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    shift = Shift.objects.get()
    assert (shift.image.name, shift.drain_timeout, shift.force, shift.parallel) == (
        "hpc", timedelta(seconds=60), True, 3,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"nodes": "node[1-2],cnode1"}, "non_field_errors", "node1: it is protected"),
        ({"nodes": "node[1-2],cnode1"}, "non_field_errors", "cnode1: it is already in tango"),
        ({"nodes": "node[3,8-9]"}, "nodes", "No node named node[8-9]"),
        ({"nodes": "node[3-"}, "nodes", "is not a node name or range"),
        ({"nodes": "0\n0"}, "nodes", "'0\\n0' is not a node name"),  # found by the fuzz test
        ({"nodes": "node3,a b"}, "nodes", "'a b' is not a node name"),
        ({"nodes": "n[1-20000]"}, "nodes", "at most 10,000 at once"),
        ({"nodes": "node3", "to_service": "nowhere"}, "to_service", 'no machine "nowhere"'),
        ({"nodes": "node3", "image": "hpc"}, "image", "is for batch services"),
        ({"nodes": "node3", "drain_timeout_seconds": 31 * 86400}, "drain_timeout_seconds", ""),
        ({"nodes": "node3", "parallel": 0}, "parallel", ""),
        ({"nodes": "node3", "parallel": 101}, "parallel", "At most 100 nodes move at once"),
    ],
)
def test_a_refused_shift_changes_nothing(admin, inventory, body, field, words):
    Node.objects.filter(name="node1").update(protected=True)
    before = list(Node.objects.order_by("name").values())
    response = admin.post("/api/shifts/", {"to_service": "tango", **body}, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])
    assert not Shift.objects.exists()
    assert list(Node.objects.order_by("name").values()) == before


def test_aborting_a_shift_before_it_starts(admin, inventory):
    shift = admin.post("/api/shifts/", {"nodes": "node2", "to_service": "tango"},
                       format="json").json()  # fmt: skip
    response = admin.post(f"/api/shifts/{shift['id']}/abort/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["aborted"] is True
    assert [(i["node"], i["outcome"]) for i in body["items"]] == [("node2", "aborted")]
    assert (node("node2").shift, node("node2").state) == (None, "in_service")
    assert admin.post("/api/shifts/999/abort/").status_code == 404


def test_a_finished_shift_cannot_be_aborted(admin, inventory):
    shift = admin.post("/api/shifts/", {"nodes": "node2", "to_service": "tango"},
                       format="json").json()  # fmt: skip
    run_until_settled(nodes_named("node2"), timeout=30)
    response = admin.post(f"/api/shifts/{shift['id']}/abort/")
    assert response.status_code == 400
    assert "has finished" in response.json()["errors"]["non_field_errors"][0]


# Operator actions ------------------------------------------------------------------------


def _timed_out(admin, inventory) -> dict:
    """node3 in drain_timeout: a job still runs on it and the shift has no --force."""
    brecca, _ = inventory
    drivers.service(brecca).add_work("node3", "job42", seconds=600)
    shift = admin.post(
        "/api/shifts/",
        {"nodes": "node3", "to_service": "tango", "drain_timeout_seconds": 0},
        format="json",
    ).json()
    run_until_settled(nodes_named("node3"), timeout=10)
    assert node("node3").state == "drain_timeout"
    return shift


def test_an_action_not_offered_now_is_a_400(admin, inventory):
    response = admin.post("/api/nodes/node1/retry/")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"] == [
        "Node node1 is in_service; retry is not offered now (offered: none). Operator actions "
        "apply to a node in a failed state."
    ]
    assert node("node1").state == "in_service"


def test_retry_abort_and_force_a_failed_node(admin, inventory):
    shift = _timed_out(admin, inventory)
    shown = admin.get(f"/api/shifts/{shift['id']}/").json()["items"][0]
    assert (shown["state"], shown["actions"]) == ("drain_timeout", ["retry", "force", "abort"])
    assert "job42" in shown["last_error"]

    response = admin.post("/api/nodes/node3/retry/")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "draining"
    latest = response.json()["history"][0]
    assert (latest["event"], latest["by"], latest["via"]) == ("retry", "api-admin", "api")

    run_until_settled(nodes_named("node3"), timeout=10)
    assert admin.post("/api/nodes/node3/force/").json()["state"] == "drained"

    _, tango = inventory
    run_until_settled(nodes_named("node3"), timeout=30)
    assert (node("node3").state, node("node3").service) == ("in_service", tango)


def test_abort_a_failed_node_puts_it_back(admin, inventory):
    shift = _timed_out(admin, inventory)
    response = admin.post("/api/nodes/node3/abort/")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "in_service"
    body = admin.get(f"/api/shifts/{shift['id']}/").json()
    assert body["items"][0]["outcome"] == Outcome.ABORTED
    assert admin.post("/api/nodes/node3/abort/").status_code == 400  # offered no more


def test_the_schema_describes_the_inventory(anonymous, example):
    paths = anonymous.get("/api/openapi.json").json()["paths"]
    for path, methods in {
        "/api/nodes/": {"get"},
        "/api/nodes/{name}/": {"get", "patch"},
        "/api/nodes/import/": {"post"},
        "/api/nodes/{name}/retry/": {"post"},
        "/api/nodes/{name}/abort/": {"post"},
        "/api/nodes/{name}/force/": {"post"},
        "/api/shifts/": {"get", "post"},
        "/api/shifts/{id}/": {"get"},
        "/api/shifts/{id}/abort/": {"post"},
    }.items():
        assert set(paths[path]) - {"parameters"} == methods, path
    content = paths["/api/nodes/import/"]["post"]["requestBody"]["content"]
    assert set(content) == {"text/csv", "application/yaml", "multipart/form-data"}


# Who may -----------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/nodes/", None),
    ("get", "/api/nodes/node1/", None),
    ("get", "/api/nodes/nosuchnode/", None),  # 403, not 404: nothing told
    ("get", "/api/nodes/?names=node[1-2]", None),
    ("patch", "/api/nodes/node1/", {"rack": "r9"}),
    ("patch", "/api/nodes/node1/", {"state": "available"}),
    ("post", "/api/nodes/import/", {"file": "name\nsneaky1\n"}),
    ("post", "/api/nodes/node3/retry/", None),
    ("post", "/api/nodes/node3/abort/", None),
    ("post", "/api/nodes/node3/force/", None),
    ("get", "/api/shifts/", None),
    ("get", "/api/shifts/{shift}/", None),
    ("post", "/api/shifts/", {"nodes": "node1", "to_service": "tango"}),
    ("post", "/api/shifts/{shift}/abort/", None),
]


@pytest.mark.parametrize(("role", "code"), [("alice", 403), ("bob", 403), ("anonymous", 401)])
def test_only_site_administrators_reach_the_inventory(client_for, anonymous, admin, inventory,
                                                      role, code):  # fmt: skip
    """alice leads InstituteA, ProjectA and ProjectB; bob is a member of both."""
    shift = _timed_out(admin, inventory)
    client = anonymous if role == "anonymous" else client_for(role)
    nodes_before = list(Node.objects.order_by("name").values())
    shifts_before = list(Shift.objects.values())
    for method, url, body in ENDPOINTS:
        url = url.format(shift=shift["id"])
        response = getattr(client, method)(url, body, format="json" if body else None)
        assert response.status_code == code, (method, url, response.json())
        assert set(response.json()) == {"detail"}, (method, url)  # a refusal holds no data
        if code == 403:
            assert "Only site administrators" in response.json()["detail"]
    assert list(Node.objects.order_by("name").values()) == nodes_before
    assert list(Shift.objects.values()) == shifts_before
