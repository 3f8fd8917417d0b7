"""Who the audit log names for a change the agent makes.

Like the CLI (cli/output.audited_as_cli) and the API, the agent marks its changes:
additional_data {"via": "agent", "loop": ..., "target": ...}, so an entry says which loop
on which target made it. The actor is None (no person asked for it) unless the site names
a person for the agent: `allot agent run --actor USERNAME` or $ALLOTMENT_AGENT_ACTOR.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from auditlog.context import set_extra_data

# The agent running the current step, for a step that marks what it is inside
# (core.fsm.begin_step) so a restart can tell whose step was cut short.
_identity: ContextVar[str] = ContextVar("allotment_agent_identity", default="")


def current_identity() -> str:
    """The identity of the agent whose step is running ("" outside a step)."""
    return _identity.get()


@contextmanager
def as_agent(loop: str, target: str, actor: Any = None, identity: str = "") -> Iterator[None]:
    token = _identity.set(identity)
    try:
        with set_extra_data(
            {"actor": actor, "additional_data": {"via": "agent", "loop": loop, "target": target}}
        ):
            yield
    finally:
        _identity.reset(token)


def configured_actor(username: str | None = None) -> Any:
    """The person named for the agent (the argument, else $ALLOTMENT_AGENT_ACTOR), or None
    when none is named; naming someone who is not in the ledger is an error, not silence."""
    from allotment.people.models import Person

    username = username or os.environ.get("ALLOTMENT_AGENT_ACTOR") or None
    if username is None:
        return None
    person = Person.objects.filter(username=username).first()
    if person is None:
        raise LookupError(
            f'The agent\'s actor "{username}" (--actor or ALLOTMENT_AGENT_ACTOR) is no person.'
        )
    return person
