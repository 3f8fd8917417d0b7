"""Who the audit log names for a change the agent makes.

Like the CLI (cli/output.audited_as_cli) and the API, the agent marks its changes:
additional_data {"via": "agent", "loop": ..., "target": ...}, so an entry says which loop
on which target made it. The actor is None (no person asked for it) unless the site names
a person for the agent: `allot agent run --actor USERNAME` or $ALLOTMENT_AGENT_ACTOR.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from auditlog.context import set_extra_data


@contextmanager
def as_agent(loop: str, target: str, actor: Any = None) -> Iterator[None]:
    with set_extra_data(
        {"actor": actor, "additional_data": {"via": "agent", "loop": loop, "target": target}}
    ):
        yield


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
