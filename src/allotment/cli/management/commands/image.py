"""allot image: the operating system images a shift deploys, one kind of service each.

A verb is one method of Command; a later one (`allot image sync`, for a cloud's images)
is added beside these and shares `image_row` and `ImageKind`.
"""

from enum import StrEnum
from typing import Annotated

import typer
from django_typer.management import command

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
from allotment.inventory.models import Image
from allotment.resources.models import MachineKind


class ImageKind(StrEnum):
    """The kinds of service an image is for (a storage machine has no nodes to deploy)."""

    BATCH = MachineKind.BATCH.value
    CLOUD = MachineKind.CLOUD.value


CHECKSUM_HELP = "sha256:<64 hex>, sha512:<128 hex> or an md5 of 32 hex digits"


def short(checksum: str) -> str:
    """A checksum short enough for a table column; --json and show give it whole."""
    algo, _, digest = checksum.rpartition(":")
    return f"{algo + ':' if algo else ''}{digest[:12]}…" if len(digest) > 12 else checksum


def image_row(data: dict) -> list:
    return [data["name"], data["kind"], data["source_url"], short(data["checksum"]),
            data["nodes"]]  # fmt: skip


class Command(AllotCommand):
    help = "Images: list, show, create, set."

    @command(name="list")
    @handles_errors
    def list_(
        self,
        kind: Annotated[ImageKind | None, typer.Option(help="Only images of this kind")] = None,
        as_json: JsonOption = False,
    ):
        """List images and how many nodes run each."""
        images = Image.objects.all()
        if kind is not None:
            images = images.filter(kind=kind.value)
        rows = [catalog.image_dict(i) for i in images]
        if as_json:
            return emit_json(rows)
        emit_table(
            ["image", "kind", "source", "checksum", "nodes"],
            [image_row(r) for r in rows],
            numeric=["nodes"],
        )

    @command()
    @handles_errors
    def show(
        self, name: Annotated[str, typer.Argument(help="Image name")], as_json: JsonOption = False
    ):
        """Show an image."""
        emit_object(catalog.image_dict(catalog.get_image(name)), as_json)

    @command()
    @handles_errors
    def create(
        self,
        name: Annotated[str, typer.Argument(help="The new image's name")],
        kind: Annotated[ImageKind, typer.Option(help="The kind of service whose nodes run it")],
        source_url: Annotated[
            str, typer.Option(metavar="URL", help="Where the provisioner downloads it (http(s))")
        ],
        checksum: Annotated[str, typer.Option(metavar="ALGO:HEX", help=CHECKSUM_HELP)],
        description: Annotated[str, typer.Option()] = "",
        as_json: JsonOption = False,
    ):
        """Create an image for the nodes of a batch or cloud service."""
        image = catalog.create_image(
            name, kind=kind.value, source_url=source_url, checksum=checksum,
            description=description,
        )  # fmt: skip
        emit_object(catalog.image_dict(image), as_json, f"Created image {image.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: Annotated[str, typer.Argument(help="Image name")],
        new_name: Annotated[str | None, typer.Option("--name", help="Rename it")] = None,
        kind: Annotated[ImageKind | None, typer.Option()] = None,
        source_url: Annotated[str | None, typer.Option(metavar="URL")] = None,
        checksum: Annotated[str | None, typer.Option(metavar="ALGO:HEX", help=CHECKSUM_HELP)] = (
            None
        ),
        description: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ):
        """Change an image: only the options given (its kind, source and checksum not while
        a shift deploys it)."""
        changes = changes_given(
            name=new_name, kind=kind and kind.value, source_url=source_url, checksum=checksum,
            description=description,
        )  # fmt: skip
        image = catalog.update_image(catalog.get_image(name), **changes)
        emit_object(catalog.image_dict(image), as_json, f"Changed image {image.name}.")
