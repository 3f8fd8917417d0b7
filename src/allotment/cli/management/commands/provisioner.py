"""allot provisioner: where nodes are deployed from (OpenStack Ironic, or the local demo)."""

from typing import Annotated

import typer
from django_typer.management import command

from allotment.cli.options import JSON_OBJECT
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    changes_given,
    emit_json,
    emit_object,
    emit_table,
    handles_errors,
)
from allotment.inventory import catalog
from allotment.inventory.models import Provisioner, ProvisionerDriver

OPTIONS_HELP = (
    'What the driver needs. Ironic: {"endpoint": "http://127.0.0.1:6385"} (no auth) or '
    '{"cloud": "a clouds.yaml entry"}, and optionally driver, timeout, enroll_timeout, '
    'concurrency. Local: {"deploy_seconds": 3}. Never credentials: those live in clouds.yaml.'
)
Options = Annotated[
    dict | None, typer.Option(click_type=JSON_OBJECT, metavar="JSON", help=OPTIONS_HELP)
]


class Command(AllotCommand):
    help = "Provisioners: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List provisioners and how many nodes each deploys."""
        provisioners = list(Provisioner.objects.all())
        rows = [catalog.provisioner_dict(p) for p in provisioners]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["provisioner", "driver", "where", "nodes", "description"],
            [
                [r["name"], r["driver"], catalog.where(p), r["nodes"], r["description"]]
                for p, r in zip(provisioners, rows, strict=True)
            ],
            numeric=["nodes"],
        )

    @command()
    @handles_errors
    def show(
        self,
        name: Annotated[str, typer.Argument(help="Provisioner name")],
        as_json: JsonOption = False,
    ):
        """Show a provisioner: its driver, options and nodes."""
        emit_object(catalog.provisioner_dict(catalog.get_provisioner(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new provisioner's name")],
        driver: Annotated[ProvisionerDriver, typer.Option(help="Which engine deploys")] = (
            ProvisionerDriver.LOCAL
        ),
        options: Options = None,
        description: Annotated[str, typer.Option()] = "",
        as_json: JsonOption = False,
    ):
        """Create a provisioner (Ironic needs --options with an endpoint or a cloud)."""
        provisioner = catalog.create_provisioner(
            name, driver=driver.value, options=options or {}, description=description
        )
        emit_object(catalog.provisioner_dict(provisioner), as_json, f"Created provisioner {name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Provisioner name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        driver: Annotated[ProvisionerDriver | None, typer.Option()] = None,
        options: Annotated[
            dict | None,
            typer.Option(click_type=JSON_OBJECT, metavar="JSON", help="Replaces them all"),
        ] = None,
        description: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ):
        """Change a provisioner: only the options given (not while a shift deploys through
        it, for its driver, endpoint or cloud)."""
        changes = changes_given(
            name=new_name, driver=driver and driver.value, options=options, description=description
        )
        provisioner = catalog.update_provisioner(catalog.get_provisioner(name), **changes)
        emit_object(
            catalog.provisioner_dict(provisioner),
            as_json,
            f"Changed provisioner {provisioner.name}.",
        )
