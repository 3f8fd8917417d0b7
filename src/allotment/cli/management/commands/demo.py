"""allot demo: the example site, for a first look and for tests."""

from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.output import AllotCommand, audited_as_cli, say
from allotment.demo import site


class Command(AllotCommand):
    help = "The example site: load it, create its administrator."

    @command()
    def load(self):
        """Load the example site (KEP 5's) into an empty ledger; does nothing if loaded."""
        if site.is_loaded():
            say("The example site is already loaded; nothing to do.")
            return
        with audited_as_cli("demo load"):
            counts = site.load()
            counts |= site.load_usage()
        say("Loaded the example site: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ".")

    @command()
    def admin(
        self,
        username: Annotated[str, typer.Option(help="Administrator's username")] = "admin",
        password: Annotated[
            str | None, typer.Option(help="Password; default: a new random one")
        ] = None,
    ):
        """Create or reset the site administrator and print how to sign in."""
        with audited_as_cli("demo admin"):
            person, password = site.ensure_admin(username, password)
        say(
            "\n[bold]Sign in[/bold] at http://127.0.0.1:8000/admin/ as "
            f"[bold]{person.username}[/bold] with password [bold]{password}[/bold]\n"
        )
