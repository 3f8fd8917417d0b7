"""Two managers approving one request at the same moment: one approval, one membership.

This needs two real connections and a database that locks rows, so it runs on PostgreSQL
(DATABASE_URL=postgres://...). The same race, taken in turns, is checked on every database
in test_join_requests.py. The root conftest loads the example site again after this test,
which empties the database when it ends.
"""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from allotment.applications import services
from allotment.applications.models import JoinRequest
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectMembership

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks across two connections); set DATABASE_URL",
)


@pytest.mark.django_db(transaction=True)
def test_two_leaders_approving_at_once_make_one_membership():
    farid = Person.objects.get(username="farid")
    request = services.request_to_join(farid, Project.objects.get(pid="ProjectA"))
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve_as(username: str) -> None:
        try:
            by = Person.objects.get(username=username)
            start.wait(timeout=10)
            services.approve(JoinRequest.objects.get(pk=request.pk), by)
            outcomes[username] = "approved"
        except ValidationError as e:
            outcomes[username] = e.messages[0]
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=approve_as, args=(u,)) for u in ("alice", "chen")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes) == ["alice", "chen"]
    [winner] = [u for u, outcome in outcomes.items() if outcome == "approved"]
    [loser] = [u for u in outcomes if u != winner]
    winner_name = str(Person.objects.get(username=winner))
    assert f"was already approved by {winner_name}" in outcomes[loser]
    assert ProjectMembership.objects.filter(person=farid, project__pid="ProjectA").count() == 1
    request.refresh_from_db()
    assert (request.state, request.decided_by.username) == ("approved", winner)
