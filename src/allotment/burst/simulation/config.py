"""The clouds a simulation boots on, read from clouds.yaml (see examples/clouds.yaml): each
cloud's flavors, quota, the site's settings (unset ones are the agent's own defaults) and the
distributions its boot and registration times are drawn from, and the projects' budgets."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from .. import demand

DEFAULT_IMAGE = "burst-worker"


class ConfigError(ValueError):
    """clouds.yaml says something the simulator cannot use: where, and what was expected."""


@dataclass(frozen=True)
class Dist:
    """Seconds drawn from a distribution: fixed, uniform or lognormal (by median and
    95th percentile, as people describe boot times)."""

    kind: str
    a: float
    b: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return rng.lognormvariate(self.a, self.b)

    @classmethod
    def parse(cls, spec, where: str) -> Dist:
        if isinstance(spec, int | float):
            return cls("fixed", float(spec))
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a number or {{dist: ...}}, got {spec!r}")
        kind = spec.get("dist")

        def num(key: str) -> float:
            value = spec.get(key)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: {key}: expected seconds (a number ≥ 0), got {value!r}")
            return float(value)

        if kind == "fixed":
            return cls("fixed", num("s"))
        if kind == "uniform":
            low, high = num("min_s"), num("max_s")
            if high < low:
                raise ConfigError(f"{where}: max_s {high} is below min_s {low}")
            return cls("uniform", low, high)
        if kind == "lognormal":
            median, p95 = num("median_s"), num("p95_s")
            if not 0 < median <= p95:
                raise ConfigError(f"{where}: expected 0 < median_s ≤ p95_s")
            return cls("lognormal", math.log(median), math.log(p95 / median) / 1.6448536)
        raise ConfigError(f"{where}: dist: expected fixed, uniform or lognormal, got {kind!r}")


def _model_default(name: str):
    """The agent's default for a cloud setting: the Cloud model's own field default."""
    from ..models import Cloud

    return Cloud._meta.get_field(name).get_default()


@dataclass
class SimCloud:
    """A cloud as clouds.yaml describes it: the site's settings (the attributes of
    burst.models.Cloud the rules read), the cloud's quota and flavors, and the
    distributions of its boot and registration times."""

    name: str
    flavors: list[demand.FlavorView]
    quota: dict
    priority: int = 10
    price_per_core_hour: Decimal = Decimal(0)
    tags: list[str] = field(default_factory=list)
    default_image: str = DEFAULT_IMAGE
    images: frozenset[str] = frozenset({DEFAULT_IMAGE})
    max_instances: int | None = None
    max_cores: int | None = None
    max_ram_mb: int | None = None
    max_starting: int = 5
    max_boots_per_cycle: int = 10
    idle_keep: int = 600
    idle_headroom: int = 0
    boot_timeout: int = 900
    register_timeout: int = 900
    enabled: bool = True
    single_use: bool = False
    boot_time: Dist = Dist("fixed", 60.0)
    registration_time: Dist = Dist("fixed", 30.0)


SETTINGS = ("priority", "max_instances", "max_cores", "max_ram_mb", "max_starting",
            "max_boots_per_cycle", "idle_keep", "idle_headroom", "boot_timeout",
            "register_timeout")  # fmt: skip
NULLABLE = ("max_instances", "max_cores", "max_ram_mb")  # the site's caps: None is none


@dataclass
class Config:
    clouds: list[SimCloud]
    cycle_s: float = 10.0
    seed: int = 0
    budgets: dict[str, Decimal] = field(default_factory=dict)  # account -> VM hours


def load_config(path: str | Path) -> Config:
    """Read clouds.yaml (see examples/clouds.yaml); errors name the file and the field."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{source}: cannot read it: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is None:
            raise ConfigError(f"{source}: not YAML: {e}") from None
        what = " ".join(p for p in (getattr(e, "context", None), e.problem) if p)
        raise ConfigError(f"{source}:{mark.line + 1}:{mark.column + 1}: not YAML: {what}") from None
    return parse_config(data, source)


CLOUD_KEYS = frozenset({"name", "flavors", "quota", "price_per_core_hour", "tags",
                        "default_image", "images", "boot_time", "registration_time",
                        "single_use", *SETTINGS})  # fmt: skip
TOP_KEYS = frozenset({"clouds", "cycle_s", "seed", "budgets"})
FLAVOR_KEYS = frozenset({"name", "cores", "ram_mb"})


def _int(value, where: str, *, none: bool = False, least: int = 0) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{where}: expected a whole number ≥ {least}, got {value!r}")
    return value


def _known(mapping: dict, keys: frozenset[str], where: str) -> None:
    """A key the simulator does not read is refused: a misspelt setting (max_startng)
    would otherwise leave its default in force without a word."""
    unknown = sorted(str(k) for k in mapping if k not in keys)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(keys))})"
        )


def _amount(value, where: str, what: str, *, negative: bool = False) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        amount = None
    if (
        amount is None
        or isinstance(value, bool)
        or not amount.is_finite()
        or (amount < 0 and not negative)
    ):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return amount


def _names(value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return [str(v) for v in value]


def parse_config(data, source: str = "clouds.yaml") -> Config:
    if not isinstance(data, dict) or not isinstance(data.get("clouds"), list) or not data["clouds"]:
        raise ConfigError(f"{source}: expected a mapping with a list of clouds under 'clouds'")
    _known(data, TOP_KEYS, source)
    clouds = []
    for i, c in enumerate(data["clouds"]):
        where = f"{source}: clouds[{i}]"
        if not isinstance(c, dict) or not c.get("name"):
            raise ConfigError(f"{where}: expected a mapping with a name")
        where = f"{source}: cloud {c['name']}"
        _known(c, CLOUD_KEYS, where)
        flavors = []
        if not isinstance(c.get("flavors") or [], list):
            raise ConfigError(f"{where}: flavors: expected a list of {{name, cores, ram_mb}}")
        for j, f in enumerate(c.get("flavors") or []):
            fw = f"{where}: flavors[{j}]"
            if not isinstance(f, dict) or not f.get("name"):
                raise ConfigError(f"{fw}: expected {{name, cores, ram_mb}}")
            _known(f, FLAVOR_KEYS, fw)
            cores, ram = (
                _int(f.get("cores"), f"{fw}: cores", least=1),
                _int(f.get("ram_mb"), f"{fw}: ram_mb", least=1),
            )
            flavors.append(demand.FlavorView(str(f["name"]), cores, ram))
        if not flavors:
            raise ConfigError(f"{where}: flavors: expected at least one flavor")
        flavor_names = [f.name for f in flavors]
        if len(set(flavor_names)) != len(flavor_names):
            twice = sorted({n for n in flavor_names if flavor_names.count(n) > 1})
            raise ConfigError(f"{where}: flavors: {', '.join(twice)} named twice")
        quota = c.get("quota") or {}
        if not isinstance(quota, dict):
            raise ConfigError(f"{where}: quota: expected {{instances, cores, ram_mb}}")
        for key in quota:
            if key not in ("instances", "cores", "ram_mb"):
                raise ConfigError(
                    f"{where}: quota: unknown limit {key!r} (instances, cores, ram_mb)"
                )
            _int(quota[key], f"{where}: quota: {key}", none=True)
        settings = {k: _model_default(k) for k in SETTINGS}
        for key in SETTINGS:
            if key in c:
                settings[key] = _int(c[key], f"{where}: {key}", none=key in NULLABLE)
        image = str(c.get("default_image") or DEFAULT_IMAGE)
        single_use = c.get("single_use", False)
        if not isinstance(single_use, bool):
            raise ConfigError(f"{where}: single_use: expected true or false, got {single_use!r}")
        price = _amount(c.get("price_per_core_hour", 0), f"{where}: price_per_core_hour",
                        "a price ≥ 0")  # fmt: skip
        clouds.append(
            SimCloud(
                name=str(c["name"]),
                flavors=flavors,
                quota=dict(quota),
                price_per_core_hour=price,
                tags=_names(c.get("tags"), f"{where}: tags"),
                default_image=image,
                single_use=single_use,
                images=frozenset([image, *_names(c.get("images"), f"{where}: images")]),
                boot_time=Dist.parse(c.get("boot_time", 60), f"{where}: boot_time"),
                registration_time=Dist.parse(
                    c.get("registration_time", 30), f"{where}: registration_time"
                ),
                **settings,
            )
        )
    names = [c.name for c in clouds]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{source}: clouds: {', '.join(twice)} named twice")
    budgets = {}
    if not isinstance(data.get("budgets") or {}, dict):
        raise ConfigError(f"{source}: budgets: expected a mapping of project to VM hours")
    for account, hours in (data.get("budgets") or {}).items():
        budgets[str(account)] = _amount(hours, f"{source}: budgets: {account}", "VM hours",
                                        negative=True)  # fmt: skip
    cycle = data.get("cycle_s", 10)
    if isinstance(cycle, bool) or not isinstance(cycle, int | float) or not 0 < cycle < math.inf:
        raise ConfigError(f"{source}: cycle_s: expected seconds > 0, got {cycle!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{source}: seed: expected a whole number, got {seed!r}")
    return Config(clouds, float(cycle), seed, budgets)
