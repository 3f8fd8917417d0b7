"""Lists page with limit/offset, filter by natural keys, order, search, in a few queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allotment.projects.services import add_member, create_project


def test_lists_are_paged_with_limit_and_offset(admin, example):
    first = admin.get("/api/projects/?limit=3").json()
    assert first["count"] == 7 and len(first["results"]) == 3
    assert first["next"].endswith("limit=3&offset=3")
    rest = admin.get("/api/projects/?limit=3&offset=3").json()["results"]
    assert {p["pid"] for p in first["results"]}.isdisjoint({p["pid"] for p in rest})


@pytest.mark.parametrize(
    ("query", "count", "rows"),
    [
        ("?limit=3", 7, 3),  # a full page: more may follow, so counted
        ("?limit=3&offset=6", 7, 1),  # the last, partial page: offset + rows
        ("?limit=10", 7, 7),  # one partial page is everything
        ("?limit=7", 7, 7),  # a full page that happens to be all
        ("?limit=3&offset=50", 7, 0),  # past the end: counted
        ("?pid=none&parent=nowhere", 0, 0),  # nothing at all
        (f"?offset={2**63}", 7, 0),  # past what a database takes as an offset
    ],
)
def test_a_page_counts_the_whole_list_whether_or_not_it_is_full(admin, example, query, count, rows):
    answer = admin.get(f"/api/projects/{query}").json()
    assert (answer["count"], len(answer["results"])) == (count, rows)


def test_a_partial_first_page_is_answered_without_a_count_query(admin, example):
    admin.get("/api/projects/")  # warm up

    def count_queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(url).status_code == 200
        return sum("COUNT(" in q["sql"].upper() for q in captured)

    assert count_queries("/api/projects/?limit=10") == 0
    assert count_queries("/api/projects/?limit=3") == 1


def test_projects_come_in_pid_order_and_filter_by_parent_institute_and_subtree(admin, example):
    def pids(query):
        return [p["pid"] for p in admin.get(f"/api/projects/{query}").json()["results"]]

    assert pids("") == [
        "InstituteA",
        "InstituteB",
        "InstituteC",
        "ProjectA",
        "ProjectB",
        "ProjectC",
        "ProjectD",
    ]
    depth = {
        p["pid"]: (p["depth"], p["institute"])
        for p in admin.get("/api/projects/").json()["results"]
    }
    assert depth["ProjectD"] == (2, "InstituteC") and depth["InstituteB"] == (0, "InstituteB")
    assert pids("?parent=InstituteA") == ["ProjectA", "ProjectB"]
    assert pids("?institute=InstituteC") == ["InstituteC", "ProjectC", "ProjectD"]
    assert pids("?institute=ProjectC") == []  # not an institute
    assert pids("?under=ProjectC") == ["ProjectC", "ProjectD"]
    assert pids("?root=true") == ["InstituteA", "InstituteB", "InstituteC"]
    assert pids("?ordering=-pid")[:2] == ["ProjectD", "ProjectC"]
    assert pids("?search=Project D") == ["ProjectD"]
    assert pids("?active=false") == []


def test_memberships_grants_and_pools_filter_by_natural_keys(admin, example):
    members = admin.get("/api/memberships/?project=ProjectA&ordering=person__username").json()
    assert [m["person"] for m in members["results"]] == ["alice", "bob", "chen"]
    assert admin.get("/api/memberships/?person=eve").json()["count"] == 3
    assert admin.get("/api/memberships/?person=eve&is_leader=true").json()["count"] == 2
    grants = admin.get("/api/grants/?project=ProjectA&scheme=ET").json()["results"]
    assert [g["project"] for g in grants] == ["ProjectA"]
    pools = admin.get("/api/allocation-pools/?project=ProjectA&period=2100&resource_pool=CPU Hours")
    (pool,) = pools.json()["results"]
    assert (pool["allocated"], pool["used"], pool["remaining"], pool["units"]) == (
        60,
        0,
        60,
        "hours",
    )


def test_filters_apply_within_what_the_caller_may_see(example, client_for):
    bob = client_for("bob")
    assert bob.get("/api/memberships/?project=ProjectC").json()["count"] == 0
    assert bob.get("/api/people/?institute=InstituteC").json()["count"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/",
        "/api/people/",
        "/api/memberships/",
        "/api/groups/",
        "/api/grants/",
        "/api/allocation-pools/",
        "/api/allocations/",
        "/api/resources/",
        "/api/resource-pools/",
        "/api/machines/",
    ],
)
def test_a_list_takes_a_fixed_number_of_queries_however_many_rows(example, client_for, url):
    alice = client_for("alice")
    alice.get(url)  # warm up: token lookup cache, content types

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(url).status_code == 200
        return len(captured)

    before = queries()
    parent = example.projects["ProjectA"]
    for n in range(5):
        project = create_project(f"ProjectA{n}", f"A{n}", parent=parent)
        add_member(project, example.people["bob"])
    from allotment.grants.services import allocate, create_grant

    grant = create_grant(project, example.scheme, example.period.start, example.period.end)
    allocate(grant, example.period, example.pools["CPU Hours"], 5)
    after = queries()
    assert after == before
    assert after <= 12
