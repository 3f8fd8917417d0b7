"""Two callers moving one object at the same instant: one move, one refusal.

Needs two real connections and a database that locks rows, so it runs on PostgreSQL
(DATABASE_URL=postgres://...). The same race taken in turns (a stale copy refused) runs on
every database in test_fsm.py.
"""

import threading

import pytest
from django.db import close_old_connections, connection

from allotment.core import fsm
from allotment.core.fsm import TransitionRefused
from allotment.core.tests.fsm_examples import NodeStates, Server, table

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (row locks across two connections); set DATABASE_URL",
    ),
]


@pytest.fixture
def servers(django_db_blocker, transactional_db):
    with table(django_db_blocker) as model:
        yield model


def test_two_threads_moving_one_object_make_one_move_and_one_refusal(servers):
    node = Server.objects.create(name="race")
    fsm.move(node, NodeStates.inspect)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def provision_as(who: str) -> None:
        try:
            copy = Server.objects.get(pk=node.pk)  # both read "available" before either moves
            start.wait(timeout=10)
            fsm.move(copy, NodeStates.provision, reason=who)
            outcomes[who] = "moved"
        except TransitionRefused as e:
            outcomes[who] = e.messages[0]
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=provision_as, args=(w,)) for w in ("agent-a", "agent-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes.values()) == [
        "moved",
        'server "race" is provisioning (heading for in_service); '
        '"provision" is allowed only from available.',
    ]
    [winner] = [w for w, outcome in outcomes.items() if outcome == "moved"]
    assert [(c.event, c.reason) for c in fsm.history(node)] == [
        ("inspect", ""),
        ("provision", winner),
    ]
    node.refresh_from_db()
    assert (node.state, node.target_state) == ("provisioning", "in_service")
