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
            counts |= site.load_inventory()
            counts |= site.load_burst()
        say("Loaded the example site: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ".")

    @command()
    def jobs(
        self,
        scale: Annotated[int, typer.Option(min=1, max=100, help="Copies of each job")] = 1,
    ):
        """Queue the demo's jobs on brecca's burst partition (the local batch system), for
        the agent to burst: watch with `allot burst status` and `allot vm list`."""
        from allotment.resources.models import Machine

        brecca = Machine.objects.filter(name="brecca").first()
        if brecca is None:
            raise typer.BadParameter("Load the example site first: allot demo load.")
        if brecca.engine != "local":
            raise typer.BadParameter(
                f"brecca runs on {brecca.engine}: submit jobs there (sbatch -p burst)."
            )
        count = site.queue_demo_jobs(brecca, scale)
        say(f"Queued {count} job(s) on brecca's partition burst.")

    @command()
    def admin(
        self,
        username: Annotated[str, typer.Option(help="Administrator's username")] = "admin",
        password: Annotated[
            str | None, typer.Option(help="Password; default: a new random one")
        ] = None,
    ):
        """Create or reset the site administrator, give the example people a password, and
        print how to sign in as each role."""
        import secrets

        with audited_as_cli("demo admin"):
            person, password = site.ensure_admin(username, password)
            people_password = secrets.token_urlsafe(9)
            people = site.set_people_passwords(people_password)
        say(
            "\n[bold]Sign in[/bold] at http://127.0.0.1:8000/ as "
            f"[bold]{person.username}[/bold] (site administrator) with password "
            f"[bold]{password}[/bold].\n"
            f"The example people ({', '.join(people)}) share the password "
            f"[bold]{people_password}[/bold]: alice leads InstituteA and ProjectA, bob is a "
            "member, chen a supervisor, eve leads InstituteC.\n"
            "API docs: http://127.0.0.1:8000/api/docs/ (a token: allot token create USERNAME)\n"
        )
