"""allot token: API tokens for scripts (`Authorization: Bearer TOKEN`).

The token is printed once, at creation; only its hash is kept, so a lost token is
revoked and replaced, never recovered. Tokens are named by their prefix afterwards.
"""

from typing import Annotated

import typer
from django_typer.management import command

from allotment.api import tokens
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_table,
    fail,
    handles_errors,
    person_named,
    say,
)


class Command(AllotCommand):
    help = "API tokens: create, list and revoke."

    @command()
    @handles_errors
    def create(
        self,
        username: Annotated[str, typer.Argument(help="The person the token acts as.")],
        name: Annotated[str, typer.Option(help="What the token is for.")] = "",
        expires_days: Annotated[
            int | None,
            typer.Option("--expires-days", min=1, help="Expire after this many days."),
        ] = None,
        as_json: JsonOption = False,
    ):
        """Create a token and print it, once: only its hash is kept."""
        person = person_named(username)
        if not person.is_active or person.is_locked:
            fail(f"{username} is {'locked' if person.is_locked else 'inactive'}; a token would "
                 "not work.")  # fmt: skip
        if person.has_expired:
            fail(f"{username}'s account expired on {person.expires}; a token would not work.")
        issued = tokens.issue(person, name=name, expires_days=expires_days)
        if as_json:
            return emit_json({"token": issued.token, **tokens.as_dict(issued.record)})
        say(f"Created API token {issued.record.prefix} for {username}. It is shown only now:")
        typer.echo(issued.token)

    @command(name="list")
    @handles_errors
    def list_(
        self,
        username: Annotated[
            str | None, typer.Argument(help="Only this person's tokens.", show_default=False)
        ] = None,
        as_json: JsonOption = False,
    ):
        """List tokens (never their secrets): prefix, person, name, dates, status."""
        rows = [tokens.as_dict(t) for t in tokens.tokens_of(username)]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["prefix", "person", "name", "created", "last used", "expires", "status"],
            [
                (
                    r["prefix"],
                    r["person"],
                    r["name"],
                    r["created"][:16],
                    (r["last_used"] or "")[:16],
                    (r["expires"] or "")[:10],
                    r["status"],
                )
                for r in rows
            ],
        )

    @command()
    @handles_errors
    def revoke(
        self,
        prefix: Annotated[
            str, typer.Argument(help="The token's prefix, or any start of it that is unique.")
        ],
    ):
        """Revoke a token: it stops working at once."""
        record = tokens.revoke(_unique_prefix(prefix))
        say(f"Revoked API token {record.prefix} of {record.person.username}.")


def _unique_prefix(start: str) -> str:
    """The one token prefix that begins with `start`: people type the first few characters
    of what `allot token list` shows; a start shared by several tokens revokes none."""
    from allotment.api.models import ApiToken

    start = start.strip()
    if not start:
        fail("Give the token's prefix (see `allot token list`).")
    matches = list(
        ApiToken.objects.filter(prefix__startswith=start)
        .select_related("person")
        .order_by("prefix")[:11]
    )
    if not matches:
        fail(f'There is no API token whose prefix starts with "{start}".')
    if len(matches) > 1:
        listed = ", ".join(f"{t.prefix} ({t.person.username})" for t in matches[:10])
        more = ", ..." if len(matches) > 10 else ""
        fail(
            f'"{start}" is the start of {"more than 10" if more else len(matches)} API tokens: '
            f"{listed}{more}; give more of the prefix."
        )
    return matches[0].prefix
