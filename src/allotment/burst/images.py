"""Keeping the images burst boots the same in every cloud that serves them, as glint
does on request, but by checksum and on its own.

An image is known by name; its checksum is the inventory catalog's (inventory.Image) when
the catalog has it, else the one its copies agree on. A cloud serves the names in its
`images` setting (its default image when empty). For each cloud and name served:

- a copy with the checksum is active there: present;
- a copy with the checksum is still being imported: in progress;
- copies of that name exist there but none has the checksum: a conflict, reported and
  never overwritten (booting would be ambiguous; an operator decides);
- copies exist whose hashes share no algorithm with the checksum (a Glance image hashed
  with sha512 against a catalog sha256): unverified, reported and left alone;
- none: copied from a cloud where it is active (downloaded, then uploaded with the
  checksum recorded in its properties); without such a cloud, reported as missing.

`plan` reads only the database (what the burst.clouds loop last saw), so pages and
`--dry-run` never call a cloud; `sync` refreshes the clouds, plans and copies.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import drivers, services
from .engines import EngineError
from .models import Cloud, CloudImage

log = logging.getLogger(__name__)


def parse_checksum(text: str) -> dict[str, str]:
    """ "sha256:ab12…" → {"sha256": "ab12…"}; a bare 32-hex digest is an md5."""
    text = (text or "").strip().lower()
    if not text:
        return {}
    algo, sep, value = text.partition(":")
    if sep:
        return {algo: value}
    return {"md5": text} if len(text) == 32 else {"unknown": text}


def same(a: dict[str, str], b: dict[str, str]) -> bool | None:
    """True or False where the two share an algorithm; None where they cannot be compared."""
    common = (set(a) & set(b)) - {"unknown"}
    if not common:
        return None
    return all(a[k] == b[k] for k in common)


def display(checksum: dict[str, str]) -> str:
    for algo in ("sha256", "sha512", "md5"):
        if algo in checksum:
            return f"{algo}:{checksum[algo]}"
    return ", ".join(f"{k}:{v}" for k, v in sorted(checksum.items())) or "unknown"


@dataclass
class Copy:
    image: str
    checksum: str
    source: str  # cloud
    source_id: str
    dest: str  # cloud


@dataclass
class Plan:
    present: list[tuple[str, str]] = field(default_factory=list)  # (image, cloud)
    in_progress: list[tuple[str, str]] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)  # image, cloud, expected, found
    unverified: list[dict] = field(default_factory=list)  # no common hash algorithm
    missing: list[dict] = field(default_factory=list)  # image, cloud, why
    done: list[dict] = field(default_factory=list)  # copies made: image, dest, id
    failed: list[dict] = field(default_factory=list)  # image, dest, error

    def as_dict(self) -> dict:
        return {
            "present": [{"image": i, "cloud": c} for i, c in self.present],
            "in_progress": [{"image": i, "cloud": c} for i, c in self.in_progress],
            "copies": [asdict(c) for c in self.copies],
            "conflicts": self.conflicts,
            "unverified": self.unverified,
            "missing": self.missing,
            "done": self.done,
            "failed": self.failed,
        }


def served(cloud: Cloud) -> list[str]:
    names = list(cloud.images or [])
    if not names and cloud.default_image:
        names = [cloud.default_image]
    return names


def _reference(name: str, copies: list[CloudImage], order: list[str]) -> dict[str, str]:
    from allotment.inventory.models import Image

    catalog = Image.objects.filter(name=name).values_list("checksum", flat=True).first()
    if catalog:
        return parse_checksum(catalog)
    ranked = sorted(
        (c for c in copies if c.status == "active" and c.checksums),
        key=lambda c: (order.index(c.cloud_id) if c.cloud_id in order else len(order), c.pk),
    )
    return dict(ranked[0].checksums) if ranked else {}


def plan(clouds: list[Cloud] | None = None) -> Plan:
    clouds = clouds if clouds is not None else list(Cloud.objects.filter(enabled=True))
    order = [c.pk for c in clouds]
    result = Plan()
    names = sorted({n for c in clouds for n in served(c)})
    rows = list(CloudImage.objects.filter(name__in=names).select_related("cloud__machine"))
    for name in names:
        copies = [r for r in rows if r.name == name]
        want = _reference(name, copies, order)
        sources = [
            r for r in copies
            if r.status == "active" and same(r.checksums, want) and r.cloud.enabled
            and services.healthy(r.cloud)
        ]  # fmt: skip
        for cloud in clouds:
            if name not in served(cloud):
                continue
            here = [r for r in copies if r.cloud_id == cloud.pk]
            matching = [r for r in here if same(r.checksums, want)]
            unknown = [r for r in here if same(r.checksums, want) is None]
            if any(r.status == "active" for r in matching):
                result.present.append((name, cloud.name))
            elif matching:
                result.in_progress.append((name, cloud.name))
            elif unknown and len(unknown) == len(here):
                # The cloud's hashes and the checksum share no algorithm: neither the same
                # nor another image as far as anyone can tell; reported, left alone.
                result.unverified.append({
                    "image": name, "cloud": cloud.name, "expected": display(want),
                    "found": [display(r.checksums) for r in here],
                })  # fmt: skip
            elif here:
                result.conflicts.append({
                    "image": name, "cloud": cloud.name, "expected": display(want),
                    "found": [display(r.checksums) for r in here],
                })  # fmt: skip
            elif not want:
                result.missing.append(
                    {"image": name, "cloud": cloud.name, "why": "no cloud has it"}
                )
            elif not sources:
                result.missing.append({
                    "image": name, "cloud": cloud.name,
                    "why": f"no healthy cloud has it active with {display(want)}",
                })  # fmt: skip
            else:
                src = sources[0]
                result.copies.append(
                    Copy(name, display(want), src.cloud.name, src.ext_id, cloud.name)
                )
    return result


def sync(dry_run: bool = False, clouds: list[Cloud] | None = None, log_line=None) -> Plan:
    """Refresh the clouds, plan, and (unless `dry_run`) make the missing copies. A copy
    that fails is reported; the others go on."""
    clouds = clouds if clouds is not None else list(
        Cloud.objects.filter(enabled=True).select_related("machine")
    )  # fmt: skip
    for cloud in clouds:
        try:
            services.refresh(cloud)
        except EngineError as e:
            if log_line:
                log_line(f"cloud {cloud.name} did not answer: {e}")
    result = plan(clouds)
    if dry_run:
        return result
    by_name = {c.name: c for c in Cloud.objects.select_related("machine")}
    for copy in result.copies:
        source, dest = by_name[copy.source], by_name[copy.dest]
        try:
            with tempfile.TemporaryDirectory(prefix="allot-image-") as tmp:
                path = drivers.cloud(source).fetch_image(copy.source_id, Path(tmp))
                new_id = drivers.cloud(dest).put_image(copy.image, copy.checksum, path)
        except EngineError as e:
            result.failed.append({"image": copy.image, "dest": copy.dest, "error": str(e)})
            log.warning("image %s to %s: %s", copy.image, copy.dest, e)
            continue
        result.done.append({"image": copy.image, "dest": copy.dest, "id": new_id})
        if log_line:
            log_line(f"copied {copy.image} from {copy.source} to {copy.dest} ({new_id})")
        with contextlib.suppress(EngineError):
            services.refresh(dest)
    return result
