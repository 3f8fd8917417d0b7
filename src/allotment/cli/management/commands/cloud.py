"""allot cloud: the clouds batch machines burst into (burst.catalog writes, burst.status
reads); `refresh` asks the cloud now, as the agent's burst.clouds loop does each pass.

The table helpers here (`room`, `states_cell`) are shared by `allot burst` and `allot vm`.
"""

from decimal import Decimal
from typing import Annotated

import typer
from django_typer.management import command

from allotment.burst import catalog, services, status
from allotment.burst.engines import EngineError
from allotment.burst.models import Driver
from allotment.cli.options import number_option
from allotment.cli.output import (
    AllotCommand,
    JsonOption,
    emit_json,
    emit_record,
    emit_table,
    fail,
    handles_errors,
    say,
)
from allotment.core.numbers import display

CloudName = Annotated[str, typer.Argument(help="Cloud name (its ledger machine's)")]
CAPS = {"instances": "max_instances", "cores": "max_cores", "ram_mb": "max_ram_mb"}


def room(free, limit) -> str:
    """`free/limit` for a table; — where there is no limit."""
    if free is None and limit is None:
        return "—"
    return f"{'∞' if free is None else free}/{'∞' if limit is None else limit}"


def states_cell(by_state: dict) -> str:
    return " ".join(f"{state} {n}" for state, n in by_state.items()) or "none"


def cloud_table(rows: list[dict]) -> None:
    emit_table(
        ["cloud", "driver", "on", "health", "prio", "price/core h", "serves", "VMs",
         "free inst", "free cores", "free MB", "images"],
        [[r["name"], r["driver"], "yes" if r["enabled"] else "no", r["health"], r["priority"],
          display(r["price_per_core_hour"]), ",".join(r["serves"]),
          states_cell(r["ours"]["by_state"]),
          room(r["free"]["instances"], r["quota"]["limits"]["instances"]),
          room(r["free"]["cores"], r["quota"]["limits"]["cores"]),
          room(r["free"]["ram_mb"], r["quota"]["limits"]["ram_mb"]),
          f"{len(r['images']['present'])}/{len(r['images']['served'])}"]
         for r in rows],
        numeric=["prio", "price/core h"],
    )  # fmt: skip


def summary(data: dict) -> dict:
    """A cloud's row flattened for `show` and for what `add` and `set` print."""
    q, caps, free, ours = data["quota"], data["caps"], data["free"], data["ours"]
    return {
        "name": data["name"],
        "driver": data["driver"],
        "enabled": data["enabled"],
        "health": data["health"] + (f" ({data['health_reason']})" if data["health_reason"] else ""),
        "failures": data["failures"],
        "last ok at": data["last_ok_at"],
        "priority": data["priority"],
        "price per core hour": display(data["price_per_core_hour"]),
        "tags": ", ".join(data["tags"]),
        "serves": ", ".join(data["serves"]),
        "options": data.get("options", {}),
        "default image": data["default_image"],
        "images served": ", ".join(data["images"]["served"]),
        "images present": ", ".join(data["images"]["present"]),
        "quota (used/limit)": ", ".join(
            f"{k} {q['used'][k] if q['used'][k] is not None else '?'}/"
            f"{q['limits'][k] if q['limits'][k] is not None else '∞'}"
            for k in ("instances", "cores", "ram_mb")
        ) + (f" read {q['read_at']:%Y-%m-%d %H:%M:%S}" if q["read_at"] else " (never read)"),
        "site caps": ", ".join(f"{k} {caps[f]}" for k, f in CAPS.items() if caps[f] is not None)
        or "none",
        "our VMs": f"{states_cell(ours['by_state'])} ({ours['cores']} cores, "
        f"{ours['ram_mb']} MB)",
        "free": f"{free['instances'] if free['instances'] is not None else '∞'} instances, "
        f"{free['cores'] if free['cores'] is not None else '∞'} cores, "
        f"{free['ram_mb'] if free['ram_mb'] is not None else '∞'} MB, "
        f"{free['starting_slots']} starting slots"
        + ("" if free["usable"] else " (not usable now)"),
        **{k.replace("_", " "): v for k, v in data["throttles"].items()},
    }  # fmt: skip


def show_cloud(name: str, as_json: bool, message: str | None = None) -> None:
    data = status.cloud_detail(name)
    if as_json:
        return emit_json(data)
    if message:
        say(message)
    emit_record(summary(data))
    if data["flavors"]:
        emit_table(
            ["flavor", "cores", "ram MB", "disk GB", "on"],
            [[f["name"], f["cores"], f["ram_mb"], f["disk_gb"], "yes" if f["enabled"] else "no"]
             for f in data["flavors"]],
            title="flavors", numeric=["cores", "ram MB", "disk GB"],
        )  # fmt: skip
    if data["cloud_images"]:
        emit_table(
            ["image", "id", "status", "checksum"],
            [[i["name"], i["ext_id"], i["status"], i["checksum"]] for i in data["cloud_images"]],
            title="images",
        )
    if data["backoffs"]:
        emit_table(
            ["flavor", "image", "failures", "until", "reason"],
            [[b["flavor"], b["image"], b["failures"], f"{b['until']:%H:%M:%S}", b["reason"]]
             for b in data["backoffs"]],
            title="backed off",
        )  # fmt: skip
    if data["vms"]:
        from allotment.cli.management.commands.vm import vm_table

        vm_table(data["vms"], title="latest VMs")
    return None


def settings_given(**options) -> dict:
    """The settings a command was given (None: not given); caps named in `clear` become
    None (no limit of the site's)."""
    clear = options.pop("clear_cap", None) or []
    given = {k: v for k, v in options.items() if v is not None}
    for cap in clear:
        given[CAPS[cap]] = None
    return given


Serves = Annotated[
    list[str] | None,
    typer.Option("--serves", help="A batch machine whose queue bursts here (repeat it)"),
]
Option = Annotated[
    list[str] | None,
    typer.Option("--option", metavar="KEY=VALUE",
                 help="A driver option such as cloud=site-cloud (repeat it); never a secret"),
]  # fmt: skip
Priority = Annotated[int | None, typer.Option(help="Lower is chosen first")]
Price = Annotated[Decimal | None, number_option("--price", help="Price per core-hour")]
Count = Annotated[int | None, typer.Option()]
Image = Annotated[
    list[str] | None, typer.Option("--image", help="An image name it serves (repeat it)")
]
Tag = Annotated[list[str] | None, typer.Option("--tag", help="A locality tag (repeat it)")]
Enabled = Annotated[bool | None, typer.Option("--enabled/--disabled")]
SingleUse = Annotated[
    bool | None,
    typer.Option("--single-use/--reusable",
                 help="A VM runs only the jobs it first takes, then is deleted"),
]  # fmt: skip
SetOption = Annotated[
    list[str] | None,
    typer.Option("--option", metavar="KEY=VALUE",
                 help="Set a driver option (KEY= removes it); the others are kept"),
]  # fmt: skip
NoCap = Annotated[
    list[str] | None,
    typer.Option("--no-cap", metavar="instances|cores|ram_mb",
                 help="Remove the site's cap (repeat it)"),
]  # fmt: skip


class Command(AllotCommand):
    help = "Burst clouds: list, show, add, set, refresh."

    @command(name="list")
    @handles_errors
    def list_(self, as_json: JsonOption = False):
        """List clouds: health, VMs and the room the next decision sees (free/quota)."""
        rows = status.cloud_rows()
        if as_json:
            return emit_json(rows)
        cloud_table(rows)

    @command()
    @handles_errors
    def show(self, name: CloudName, as_json: JsonOption = False):
        """Show a cloud: settings, quota, flavors, images, back-offs and its latest VMs."""
        show_cloud(name, as_json)

    @command()
    @handles_errors
    def add(
        self,
        name: Annotated[str, typer.Argument(help="The new cloud's name")],
        driver: Annotated[Driver, typer.Option(help="How Allotment reaches it")],
        serves: Serves = None,
        option: Option = None,
        priority: Priority = None,
        price: Price = None,
        max_instances: Count = None,
        max_cores: Count = None,
        max_ram_mb: Count = None,
        max_starting: Count = None,
        max_boots_per_cycle: Count = None,
        idle_headroom: Count = None,
        idle_keep: Annotated[int | None, typer.Option(help="Seconds an idle VM is kept")] = None,
        boot_timeout: Count = None,
        register_timeout: Count = None,
        default_image: Annotated[str | None, typer.Option()] = None,
        image: Image = None,
        tag: Tag = None,
        enabled: Enabled = None,
        single_use: SingleUse = None,
        category: Annotated[
            str | None, typer.Option(help="A new machine's category (else the served one's)")
        ] = None,
        as_json: JsonOption = False,
    ):
        """Add a cloud (and its ledger machine of kind cloud, if new)."""
        cloud = catalog.add_cloud(
            name, driver.value, serves=serves or [],
            options=catalog.options_from_pairs(option or []), category=category,
            **settings_given(
                priority=priority, price_per_core_hour=price, max_instances=max_instances,
                max_cores=max_cores, max_ram_mb=max_ram_mb, max_starting=max_starting,
                max_boots_per_cycle=max_boots_per_cycle, idle_headroom=idle_headroom,
                idle_keep=idle_keep, boot_timeout=boot_timeout,
                register_timeout=register_timeout, default_image=default_image,
                images=image, tags=tag, enabled=enabled, single_use=single_use,
            ),
        )  # fmt: skip
        show_cloud(cloud.name, as_json, f"Added cloud {cloud.name}.")

    @command(name="set")
    @handles_errors
    def set_(
        self,
        name: CloudName,
        driver: Annotated[Driver | None, typer.Option()] = None,
        serves: Serves = None,
        option: SetOption = None,
        priority: Priority = None,
        price: Price = None,
        max_instances: Count = None,
        max_cores: Count = None,
        max_ram_mb: Count = None,
        clear_cap: NoCap = None,
        max_starting: Count = None,
        max_boots_per_cycle: Count = None,
        idle_headroom: Count = None,
        idle_keep: Count = None,
        boot_timeout: Count = None,
        register_timeout: Count = None,
        default_image: Annotated[str | None, typer.Option()] = None,
        image: Image = None,
        tag: Tag = None,
        enabled: Enabled = None,
        single_use: SingleUse = None,
        as_json: JsonOption = False,
    ):
        """Change a cloud: only the options given (--serves, --image and --tag replace)."""
        from typer._click.exceptions import UsageError

        unknown = sorted(set(clear_cap or []) - set(CAPS))
        if unknown:
            raise UsageError(f"--no-cap: {unknown[0]} is not one of instances, cores, ram_mb")
        changes = settings_given(
            driver=driver and driver.value, serves=serves, priority=priority,
            price_per_core_hour=price, max_instances=max_instances, max_cores=max_cores,
            max_ram_mb=max_ram_mb, clear_cap=clear_cap, max_starting=max_starting,
            max_boots_per_cycle=max_boots_per_cycle, idle_headroom=idle_headroom,
            idle_keep=idle_keep, boot_timeout=boot_timeout, register_timeout=register_timeout,
            default_image=default_image, images=image, tags=tag, enabled=enabled,
            single_use=single_use,
        )  # fmt: skip
        if option:
            options = dict(status.get_cloud(name).options or {})
            for key, value in catalog.options_from_pairs(option).items():
                if value == "":
                    options.pop(key, None)
                else:
                    options[key] = value
            changes["options"] = options
        if not changes:
            raise UsageError("Nothing to change: give at least one option to set (see --help).")
        cloud = catalog.set_cloud(name, **changes)
        show_cloud(cloud.name, as_json, f"Changed cloud {cloud.name}.")

    @command()
    @handles_errors
    def refresh(self, name: CloudName, as_json: JsonOption = False):
        """Read the cloud now (quota, flavors, images, servers) and sweep our orphans: servers
        with this site's tag that no VM knows are deleted; others' are only listed."""
        cloud = status.get_cloud(name)
        try:
            servers = services.refresh(cloud)
            swept = services.sweep_orphans(cloud, servers)
        except EngineError as e:
            fail(f"Cloud {name} did not answer: {e}")
        data = status.cloud_detail(name)
        report = {
            "cloud": name,
            "health": data["health"],
            "servers": len(servers),
            "flavors": len(data["flavors"]),
            "images": len(data["cloud_images"]),
            "orphans_deleted": swept["deleted"],
            "foreign": swept["foreign"],
        }
        if as_json:
            return emit_json(report)
        say(f"Read cloud {name}: {report['servers']} server(s), {report['flavors']} flavor(s), "
            f"{report['images']} image(s); it is {report['health']}.")  # fmt: skip
        say("Orphans deleted: " + (", ".join(swept["deleted"]) or "none") + ".")
        if swept["foreign"]:
            say("Not ours, left alone: " + ", ".join(swept["foreign"]) + ".")
        return None
