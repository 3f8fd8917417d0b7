"""allot image: the operating system images a shift deploys, one kind of service each.

A verb is one method of Command; a later one (`allot image sync`, for a cloud's images)
is added beside these and shares `image_row` and `ImageKind`.
"""

from enum import StrEnum
from typing import Annotated

import typer
from django_typer.management import command

from allotment.burst.status import image_copies
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
        clouds: Annotated[
            bool, typer.Option("--clouds", help="Also the images only burst clouds hold")
        ] = False,
        as_json: JsonOption = False,
    ):
        """List images, how many nodes run each and the burst clouds holding a copy."""
        images = Image.objects.all()
        if kind is not None:
            images = images.filter(kind=kind.value)
        copies = image_copies()
        rows = [with_clouds(catalog.image_dict(i), copies) for i in images]
        if clouds and kind in (None, ImageKind.CLOUD):
            rows += cloud_only_rows(copies)
        if as_json:
            return emit_json(rows)
        columns = ["image", "kind", "source", "checksum", "nodes"]
        if copies or clouds:  # the clouds' column only where burst clouds hold images
            columns.append("clouds")
        emit_table(
            columns,
            [[*image_row(r), ", ".join(r["clouds"])][: len(columns)] for r in rows],
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

    @command()
    @handles_errors
    def sync(
        self,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Say what would be copied; copy nothing")
        ] = False,
        cloud: Annotated[
            list[str] | None, typer.Option("--cloud", help="Only this cloud (repeat it)")
        ] = None,
        as_json: JsonOption = False,
    ):
        """Copy the images the burst clouds serve to those lacking them, by checksum;
        conflicts are reported, never overwritten. Exit 1 while a conflict or failure
        remains."""
        from allotment.burst import images
        from allotment.burst.status import get_cloud
        from allotment.cli.output import fail, say

        clouds = [get_cloud(name) for name in cloud] if cloud else None
        lines: list[str] = []
        result = images.sync(dry_run=dry_run, clouds=clouds, log_line=lines.append).as_dict()
        if as_json:
            emit_json(result)
        else:
            for line in lines:
                say(line)
            rows = _sync_rows(result)
            if rows:
                emit_table(["image", "cloud", "status", "detail"], rows)
            say(f"{len(result['present'])} present; {len(result['done'])} copied, "
                f"{len(result['copies']) - len(result['done'])} "
                f"{'to copy' if dry_run else 'not copied'}, {len(result['conflicts'])} "
                f"conflict(s), {len(result['unverified'])} unverified, "
                f"{len(result['missing'])} missing.")  # fmt: skip
        if result["conflicts"] or result["failed"]:
            if as_json:
                raise SystemExit(1)
            fail(f"{len(result['conflicts'])} conflict(s) and {len(result['failed'])} failed "
                 "copy(ies) remain.")  # fmt: skip


# -- the clouds' copies (burst) -----------------------------------------------------------


def _sync_rows(result: dict) -> list[list]:
    """One row per copy made, to make, failed, in conflict or missing."""
    made = {(d["image"], d["dest"]) for d in result["done"]}
    failed = {(f["image"], f["dest"]): f["error"] for f in result["failed"]}
    rows = []
    for c in result["copies"]:
        key = (c["image"], c["dest"])
        what = "copied" if key in made else ("failed" if key in failed else "to copy")
        rows.append(
            [
                c["image"],
                c["dest"],
                what,
                f"from {c['source']}" + (f": {failed[key]}" if key in failed else ""),
            ]
        )
    for c in result["conflicts"]:
        rows.append(
            [
                c["image"],
                c["cloud"],
                "conflict",
                f"want {c['expected']}, found {', '.join(c['found'])}",
            ]
        )
    for u in result.get("unverified", []):
        rows.append(
            [u["image"], u["cloud"], "unverified",
             f"want {u['expected']}, the cloud knows only {', '.join(u['found'])}"]
        )  # fmt: skip
    for m in result["missing"]:
        rows.append([m["image"], m["cloud"], "missing", m["why"]])
    for i in result["in_progress"]:
        rows.append([i["image"], i["cloud"], "importing", ""])
    return rows  # fmt: skip


def with_clouds(row: dict, copies: dict[str, dict]) -> dict:
    """A catalog image's row with the burst clouds holding an active copy of that name."""
    return row | {"clouds": copies.get(row["name"], {}).get("clouds", [])}


def cloud_only_rows(copies: dict[str, dict]) -> list[dict]:
    """Images active in burst clouds that the catalog does not have, as list rows."""
    known = set(Image.objects.values_list("name", flat=True))
    return [
        {"name": name, "kind": "cloud only", "source_url": "",
         "checksum": ", ".join(c["checksums"]), "description": "", "nodes": 0,
         "clouds": c["clouds"]}
        for name, c in sorted(copies.items()) if name not in known
    ]  # fmt: skip
