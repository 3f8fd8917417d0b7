"""Provisioners and images: the catalogue a shift draws on, and their writers.

The models take any JSON as a provisioner's options and any text as an image's checksum;
a typo there would only surface when the agent first deploys a node, as a failed shift.
So `allot provisioner`, `allot image` and the admin's forms write through the checks here
(an API for them should too), which refuse at once with the object and the field named,
and write nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from allotment.core.validation import get_named, refuse_taken_name
from allotment.resources.models import MachineKind

from .models import Image, Node, Provisioner, ProvisionerDriver
from .services import collapse

PROVISIONER_FIELDS = ("name", "driver", "options", "description")
IMAGE_FIELDS = ("name", "kind", "source_url", "checksum", "description")
IMAGE_KINDS = (MachineKind.BATCH.value, MachineKind.CLOUD.value)

IMAGE_URL = URLValidator(schemes=["http", "https"])
CHECKSUM_RE = re.compile(r"\A(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|[0-9a-f]{32})\Z")
# Keys that look like secrets: refused with a pointer to clouds.yaml, not "unknown".
SECRET_RE = re.compile(r"pass|secret|token|credential|auth|key", re.IGNORECASE)


# -- option checks, one per kind of value ---------------------------------------------------


def http_url_problem(value: Any, example: str = "http://127.0.0.1:6385") -> str | None:
    """Why `value` is not an http(s) URL with a host, or None. Lenient about the host (a
    site's Ironic may answer at a single-label name such as http://ironic:6385)."""
    if not isinstance(value, str) or not value.strip():
        return "give an http(s) URL"
    if any(c.isspace() for c in value):
        return f"{value!r} is not a URL (it has white space)"
    try:
        parts = urlsplit(value)
        port = parts.port  # a port out of range or not a number raises ValueError
    except ValueError as e:
        return f"{value!r} is not a URL ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http(s) URL such as {example}"
    if port == 0:
        return f"{value!r} names port 0"
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "give a non-empty text"
    return None


def _seconds(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return f"{value!r} is not a number of seconds above 0"
    return None


def _seconds_or_none(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return f"{value!r} is not a number of seconds, 0 or more"
    return None


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{value!r} is not a whole number above 0"
    return None


# What each driver reads from its options (integrations.ironic.provisioner and
# inventory.local document them); anything else is a typo or a secret.
OPTIONS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    ProvisionerDriver.IRONIC: {
        "endpoint": http_url_problem,
        "cloud": _text,
        "driver": _text,
        "timeout": _seconds,
        "enroll_timeout": _seconds,
        "concurrency": _count,
    },
    ProvisionerDriver.LOCAL: {"deploy_seconds": _seconds_or_none},
}


def _driver_names() -> str:
    return ", ".join(ProvisionerDriver.values)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def options_problems(driver: str, options: Any) -> list[str]:
    """What is wrong with `options` for a provisioner of `driver` (empty when nothing)."""
    if not isinstance(options, dict):
        return ['give a JSON object such as {"endpoint": "http://127.0.0.1:6385"}']
    known = OPTIONS.get(driver)
    if known is None:
        return []  # the driver itself is refused
    problems = []
    for key in sorted(options):
        if key not in known:
            if SECRET_RE.search(key):
                problems.append(
                    f'"{key}": credentials never go in the database; put them in clouds.yaml '
                    'and name its entry with "cloud"'
                )
            else:
                problems.append(
                    f'"{key}" is not an option of {_article(driver)} {driver} provisioner '
                    f"(it reads {', '.join(known)})"
                )
            continue
        problem = known[key](options[key])
        if problem:
            problems.append(f'"{key}": {problem}')
    if driver == ProvisionerDriver.IRONIC:
        has = [k for k in ("endpoint", "cloud") if k in options]
        if not has:
            problems.append(
                'an Ironic provisioner needs "endpoint" (its http(s) URL, no authentication) '
                'or "cloud" (a clouds.yaml entry)'
            )
        elif len(has) == 2:
            problems.append('give "endpoint" or "cloud", not both: only one is used')
    return problems


# -- provisioners ---------------------------------------------------------------------------


def get_provisioner(name: str) -> Provisioner:
    return get_named(Provisioner.objects, "provisioner", name)


def check_provisioner(provisioner: Provisioner, before: Provisioner | None = None) -> None:
    """Refuse a provisioner whose driver or options the agent could not use, naming it and
    the field: ValidationError({field: [...]}). `before` is the saved row of a change (see
    _refuse_while_moving). The admin's form calls this too."""
    if before is not None:
        _refuse_while_moving(provisioner, before)
    errors: dict[str, list[str]] = {}
    what = f'Provisioner "{provisioner.name}"'
    if provisioner.driver not in ProvisionerDriver.values:
        errors["driver"] = [
            f'{what}: "{provisioner.driver}" is not a provisioner driver; use one of '
            f"{_driver_names()}."
        ]
    problems = options_problems(provisioner.driver, provisioner.options)
    if problems:
        errors["options"] = [f"{what}: {p}." for p in problems]
    if errors:
        raise ValidationError(errors)


def _moving_nodes(provisioner: Provisioner) -> list[str]:
    return list(
        Node.objects.filter(provisioner=provisioner, shift__isnull=False).values_list(
            "name", flat=True
        )
    )


def _picked(options: Any, keys: tuple[str, ...]) -> dict:
    return {k: options.get(k) for k in keys} if isinstance(options, dict) else {}


def _refuse_while_moving(provisioner: Provisioner, before: Provisioner) -> None:
    """Changing where a provisioner's nodes are deployed in the middle of a shift would
    leave a deploy under way in one engine and the agent asking another; wait or abort.
    A local provisioner keeps its state under its name, so renaming it counts too; other
    options (timeouts) may change at any time."""
    changed = ["driver"] if provisioner.driver != before.driver else []
    where = ("endpoint", "cloud")
    if _picked(provisioner.options, where) != _picked(before.options, where):
        changed.append("options")
    if provisioner.driver == ProvisionerDriver.LOCAL and provisioner.name != before.name:
        changed.append("name")
    if not changed:
        return
    moving = _moving_nodes(before)
    if moving:
        raise ValidationError(
            {
                changed[0]: f'Provisioner "{before.name}": its nodes {collapse(moving)} are in a '
                f"shift; change its {' and '.join(changed)} once the shift ends (or abort it)."
            }
        )


def _save(obj, allowed: tuple[str, ...], fields: dict[str, Any], check) -> Any:
    """Set `fields`, run `check` and the model's own validation (skipping the fields `check`
    already refused, so each problem is said once), then save; all or nothing."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no settable field(s) {sorted(unknown)}")
    for field, value in fields.items():
        setattr(obj, field, value)
    errors: dict[str, list[str]] = {}
    try:
        check(obj)
    except ValidationError as e:
        errors = e.update_error_dict(errors)
    try:
        obj.full_clean(exclude=list(errors))
    except ValidationError as e:
        errors = e.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        obj.save()
    return obj


def create_provisioner(
    name: str, *, driver: str = ProvisionerDriver.LOCAL, options: dict | None = None,
    description: str = "",
) -> Provisioner:  # fmt: skip
    """A new provisioner; nodes name it (`allot node set --provisioner`, an import)."""
    refuse_taken_name(Provisioner, "provisioner", name)
    fields = {"driver": driver, "options": {} if options is None else options,
              "description": description}  # fmt: skip
    return _save(Provisioner(name=name), PROVISIONER_FIELDS, fields, check_provisioner)


def update_provisioner(provisioner: Provisioner, **changes: Any) -> Provisioner:
    """Change only the fields given; refused while a shift deploys through it (see
    _refuse_while_moving)."""
    if "name" in changes:
        refuse_taken_name(Provisioner, "provisioner", changes["name"], provisioner)
    before = Provisioner.objects.get(pk=provisioner.pk)
    return _save(provisioner, PROVISIONER_FIELDS, changes, lambda p: check_provisioner(p, before))


def where(provisioner: Provisioner) -> str:
    """Where its engine answers, for a table: the endpoint, the clouds.yaml entry, or ""."""
    options = provisioner.options if isinstance(provisioner.options, dict) else {}
    if options.get("endpoint"):
        return str(options["endpoint"])
    return f"cloud {options['cloud']}" if options.get("cloud") else ""


def provisioner_dict(provisioner: Provisioner) -> dict:
    nodes = list(provisioner.nodes.values_list("name", flat=True))
    return {
        "name": provisioner.name,
        "driver": provisioner.driver,
        "options": provisioner.options,
        "description": provisioner.description,
        "nodes": len(nodes),
        "node_names": collapse(nodes) if nodes else "",
    }


# -- images ---------------------------------------------------------------------------------


def get_image(name: str) -> Image:
    return get_named(Image.objects, "image", name)


def normal_checksum(text: str) -> str:
    """The checksum as stored: trimmed, lower case (Ironic compares hex digests as given)."""
    return text.strip().lower() if isinstance(text, str) else text


def _refuse_image_change_in_a_shift(image: Image, before: Image) -> None:
    """A shift compares what the provisioner deployed with the image's source URL, and
    chose the image for its service's kind: changing either under a shift that is still
    running would redeploy nodes half way, or send one kind's image to the other."""
    changed = [
        f for f in ("kind", "source_url", "checksum") if getattr(image, f) != getattr(before, f)
    ]
    if not changed:
        return
    running = list(before.shifts.filter(finished_at__isnull=True).values_list("pk", flat=True))
    if running:
        shifts = ", ".join(str(pk) for pk in running)
        raise ValidationError(
            {
                changed[0]: f'Image "{before.name}": shift {shifts} is deploying it; change its '
                f"{' and '.join(changed)} once the shift ends (or abort it), or create a new "
                "image."
            }
        )


def check_image(image: Image, before: Image | None = None) -> None:
    """Refuse an image the provisioner could not deploy, naming it and the field. `before`
    is the saved row of a change. The admin's form calls this too."""
    if before is not None:
        _refuse_image_change_in_a_shift(image, before)
    errors: dict[str, list[str]] = {}
    what = f'Image "{image.name}"'
    if image.kind not in IMAGE_KINDS:
        errors["kind"] = [
            f'{what}: "{image.kind}" is not a kind of service; use batch (Slurm) or cloud '
            "(OpenStack)."
        ]
    problem = http_url_problem(image.source_url, "http://images.example.org/hpc.qcow2")
    if problem is None:
        try:  # the model's own rule (a host name with a domain, an IP address or localhost)
            IMAGE_URL(image.source_url)
        except ValidationError:
            problem = (
                f"{image.source_url!r} is not a URL whose host is a domain name "
                "(images.example.org), an IP address or localhost"
            )
    if problem:
        errors["source_url"] = [
            f"{what}: {problem}; the provisioner downloads the image from it over HTTP(S)."
        ]
    if not isinstance(image.checksum, str) or not CHECKSUM_RE.match(image.checksum):
        errors["checksum"] = [
            f"{what}: {image.checksum!r} is not a checksum; give sha256:<64 hex digits>, "
            "sha512:<128 hex digits> or an md5 of 32 hex digits."
        ]
    if errors:
        raise ValidationError(errors)


def create_image(
    name: str, *, kind: str, source_url: str, checksum: str, description: str = ""
) -> Image:
    """A new image for the nodes of one kind of service; a shift deploys it."""
    refuse_taken_name(Image, "image", name)
    fields = {"kind": kind, "source_url": source_url.strip() if source_url else source_url,
              "checksum": normal_checksum(checksum), "description": description}  # fmt: skip
    return _save(Image(name=name), IMAGE_FIELDS, fields, check_image)


def update_image(image: Image, **changes: Any) -> Image:
    """Change only the fields given. Nodes already deployed keep what they run; the next
    shift deploys the image as it is then."""
    if "name" in changes:
        refuse_taken_name(Image, "image", changes["name"], image)
    if "checksum" in changes:
        changes["checksum"] = normal_checksum(changes["checksum"])
    if isinstance(changes.get("source_url"), str):
        changes["source_url"] = changes["source_url"].strip()
    before = Image.objects.get(pk=image.pk)
    return _save(image, IMAGE_FIELDS, changes, lambda i: check_image(i, before))


def image_dict(image: Image) -> dict:
    return {
        "name": image.name,
        "kind": image.kind,
        "source_url": image.source_url,
        "checksum": image.checksum,
        "description": image.description,
        "nodes": image.nodes.count(),
    }
