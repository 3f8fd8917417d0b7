"""Burst clouds: their writers, for `allot cloud add|set` (and an API or form after them).

A cloud is a ledger machine of kind cloud with a `Cloud` row; adding one makes the machine
too (its VM-hours resources and allocations are then the ledger's own). A typo in a
cloud's settings would only surface when the agent first boots there, as failed VMs, and a
secret in its options would sit in the database and the audit log; so every write goes
through the checks here, which refuse with the cloud and the field named and write
nothing. Writes are model saves, so the audit log records each one (who, when, the field
changes, the batch machines served) as it does every ledger write.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from allotment.resources.models import Machine, MachineCategory, MachineKind

from .models import Cloud, Driver

# Settings an operator may give (besides driver, options and serves).
SETTINGS = (
    "enabled", "priority", "price_per_core_hour", "tags", "default_image", "images",
    "max_instances", "max_cores", "max_ram_mb", "max_starting", "max_boots_per_cycle",
    "idle_headroom", "boot_timeout", "register_timeout", "idle_keep", "single_use",
)  # fmt: skip
COUNTS = ("priority", "max_starting", "max_boots_per_cycle", "idle_headroom", "idle_keep")
CAPS = ("max_instances", "max_cores", "max_ram_mb")  # None: no limit of the site's
TIMEOUTS = ("boot_timeout", "register_timeout")  # seconds, above 0
NAME_LISTS = ("tags", "images")

# A key that looks like a credential itself is refused; one that says where credentials
# are kept (a file, a profile, a clouds.yaml entry) is what belongs here.
CREDENTIAL_RE = re.compile(
    r"pass|secret|token|auth|credential|access_key|private|(?:^|_)key$", re.IGNORECASE
)
WHERE_RE = re.compile(r"(?:_file|_path|_yaml)$|^(?:profile|cloud)$", re.IGNORECASE)


def credential_keys(options: Any, prefix: str = "") -> list[str]:
    """The keys of `options` (nested ones as a.b) that look like credentials."""
    if not isinstance(options, dict):
        return []
    found = []
    for key, value in options.items():
        path = f"{prefix}{key}"
        if CREDENTIAL_RE.search(str(key)) and not WHERE_RE.search(str(key)):
            found.append(path)
        elif isinstance(value, dict):
            found += credential_keys(value, f"{path}.")
    return found


def _count_problem(value: Any, *, above_zero: bool = False) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole number"
    if above_zero and value < 1:
        return f"{value} is not above 0"
    if value < 0:
        return f"{value} is negative"
    return None


def _price(value: Any) -> tuple[Decimal | None, str | None]:
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None, f"{value!r} is not a number"
    if not price.is_finite() or price < 0:
        return None, f"{value} is not a price, 0 or more"
    return price, None


def _names_problem(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        return f"{value!r} is not a list of names"
    return None


def _check_settings(name: str, fields: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with the settings given, by field; normalises prices in place."""
    what = f'Cloud "{name}"'
    errors: dict[str, list[str]] = {}

    def refuse(field: str, why: str) -> None:
        errors.setdefault(field, []).append(f"{what}: {field} {why}.")

    if "driver" in fields and fields["driver"] not in Driver.values:
        errors["driver"] = [
            f'{what}: "{fields["driver"]}" is not a cloud driver; use one of '
            f"{', '.join(Driver.values)}."
        ]
    if "options" in fields:
        options = fields["options"]
        if not isinstance(options, dict):
            refuse("options", 'must be a JSON object such as {"cloud": "site-cloud"}')
        for key in credential_keys(options):
            errors.setdefault("options", []).append(
                f'{what}: option "{key}" looks like a credential; name where it is kept '
                "(a clouds.yaml entry, an AWS profile or credentials file), not the value."
            )
    for field in COUNTS:
        if field in fields and (why := _count_problem(fields[field])):
            refuse(field, f"must be a whole number, 0 or more ({why})")
    for field in CAPS:
        if fields.get(field) is not None and (why := _count_problem(fields[field])):
            refuse(field, f"must be a whole number, 0 or more, or none ({why})")
    for field in TIMEOUTS:
        if field in fields and (why := _count_problem(fields[field], above_zero=True)):
            refuse(field, f"must be a whole number of seconds above 0 ({why})")
    if "price_per_core_hour" in fields:
        price, why = _price(fields["price_per_core_hour"])
        if why:
            refuse("price_per_core_hour", f"must be a number, 0 or more ({why})")
        else:
            fields["price_per_core_hour"] = price
    for field in NAME_LISTS:
        if field in fields:
            if why := _names_problem(fields[field]):
                refuse(field, f"must be names ({why})")
            else:
                fields[field] = [v.strip() for v in fields[field]]
    if "default_image" in fields and not isinstance(fields["default_image"], str):
        refuse("default_image", "must be an image name")
    for flag in ("enabled", "single_use"):
        if flag in fields and not isinstance(fields[flag], bool):
            refuse(flag, "must be true or false")
    return errors


def _served(name: str, serves: Any) -> tuple[list[Machine], list[str]]:
    """The batch machines named, or why not."""
    if isinstance(serves, str) or not all(isinstance(s, str) for s in serves):
        return [], [f'Cloud "{name}": serves must be a list of batch machine names.']
    names = list(dict.fromkeys(serves))
    found = {m.name: m for m in Machine.objects.filter(name__in=names)}
    problems = []
    for n in names:
        machine = found.get(n)
        if machine is None:
            problems.append(f'Cloud "{name}": there is no batch machine "{n}" to serve.')
        elif machine.kind != MachineKind.BATCH:
            problems.append(
                f'Cloud "{name}": machine {n} is of kind {machine.kind}; a cloud serves the '
                "queues of batch machines."
            )
    return [found[n] for n in names if n in found], problems


def _save(
    cloud: Cloud, fields: dict[str, Any], serves: Any | None, found: dict | None = None
) -> Cloud:
    """Check `fields` and `serves`, set them and save the cloud (and its machine when new),
    all or nothing. `found`: problems the caller found already, by field."""
    unknown = set(fields) - {"driver", "options", *SETTINGS}
    if unknown:
        raise TypeError(f"Cloud has no settable field(s) {sorted(unknown)}")
    name = cloud.machine.name
    errors = _check_settings(name, fields)
    machines: list[Machine] = []
    if serves is not None:
        machines, problems = _served(name, serves)
        if problems:
            errors["serves"] = problems
    if found and "serves" not in errors:  # a machine not served explains a category missing
        errors |= found
    new_machine = cloud.machine.pk is None
    if new_machine:
        try:
            cloud.machine.full_clean(exclude=["category"] if found else None)
        except ValidationError as e:
            errors = e.update_error_dict(errors)
    for field, value in fields.items():
        if field not in errors:
            setattr(cloud, field, value)
    try:
        cloud.full_clean(exclude=["machine", *errors])
    except ValidationError as e:
        errors = e.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if new_machine:
            cloud.machine.save()
        cloud.save()
        if serves is not None:
            cloud.serves.set(machines)
    return cloud


def _category(category: str | None, serves: Any) -> tuple[MachineCategory | None, str]:
    """The new cloud machine's category: the one named, else the first served machine's;
    or None and why."""
    if category is not None:
        found = MachineCategory.objects.filter(name=category).first()
        return found, "" if found else f'There is no machine category "{category}".'
    first = Machine.objects.filter(
        name__in=[s for s in serves if isinstance(s, str)], kind=MachineKind.BATCH
    ).first()
    if first is None:
        return None, (
            "Give the new cloud machine's category (it serves no batch machine to take it from)."
        )
    return first.category, ""


def add_cloud(
    name: str,
    driver: str,
    *,
    serves: list[str] | tuple[str, ...] = (),
    options: dict | None = None,
    category: str | None = None,
    description: str = "",
    **settings: Any,
) -> Cloud:
    """A new burst cloud serving the batch machines named. Its ledger machine (kind cloud)
    is made too unless one of that name exists; a machine of another kind is refused, as is
    one that already is a cloud."""
    machine = Machine.objects.filter(name=name).first()
    if machine is not None and machine.kind != MachineKind.CLOUD:
        raise ValidationError(
            {"name": f"Machine {name} is of kind {machine.kind}; a burst cloud is a machine "
             "of kind cloud."}
        )  # fmt: skip
    if machine is not None and Cloud.objects.filter(machine=machine).exists():
        raise ValidationError({"name": f'There is already a cloud named "{name}".'})
    errors = {}
    if machine is None:
        found, why = _category(category, serves)
        if why:
            errors["category"] = [why]
        machine = Machine(
            name=name, kind=MachineKind.CLOUD, category=found,
            description=description or f"Burst cloud ({driver})",
        )  # fmt: skip
    fields = {"driver": driver, "options": {} if options is None else options, **settings}
    return _save(Cloud(machine=machine), fields, list(serves), errors)


def set_cloud(name: str, **changes: Any) -> Cloud:
    """Change only the settings given; `serves` (a list of batch machine names) replaces
    the machines served. Nothing given is an error, not a silent success."""
    from .status import get_cloud

    if not changes:
        raise ValidationError(f'Cloud "{name}": nothing to change.')
    cloud = get_cloud(name)
    serves = changes.pop("serves", None)
    return _save(cloud, changes, serves)


def options_from_pairs(pairs: list[str]) -> dict[str, Any]:
    """`--option key=value` pairs as a dict: a value that reads as JSON (a number, true,
    a list) is taken as such, any other as text."""
    import json

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError({"options": f'"{pair}" is not key=value.'})
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options
