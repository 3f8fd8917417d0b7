"""clouds.yaml: errors that name the cloud and the field, the agent's defaults for what is
unset, and the example file."""

import json

import pytest

from allotment.burst.models import Cloud
from allotment.burst.simulation import ConfigError, load_config, parse_config
from allotment.burst.simulation.config import SETTINGS
from allotment.burst.tests.simulation_helpers import EXAMPLE, ONE_CLOUD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clouds": []}, "expected a mapping with a list of clouds"),
        ({"flavors": [{"name": "x", "cores": "two", "ram_mb": 1}]},
         "cloud nimbus: flavors\\[0\\]: cores: expected a whole number"),
        ({"quota": {"gpus": 1}}, "cloud nimbus: quota: unknown limit 'gpus'"),
        ({"boot_time": {"dist": "gamma"}}, "cloud nimbus: boot_time: dist: expected fixed"),
        ({"boot_time": {"dist": "lognormal", "median_s": 300, "p95_s": 90}},
         "median_s ≤ p95_s"),
        ({"max_starting": None}, "cloud nimbus: max_starting: expected a whole number"),
        ({"max_startng": 5}, "cloud nimbus: unknown key 'max_startng' \\(known: .*max_starting"),
        ({"flavors": [{"name": "x", "cores": 0, "ram_mb": 1}]},
         "flavors\\[0\\]: cores: expected a whole number ≥ 1, got 0"),
        ({"flavors": [{"name": "x", "cores": 1, "ram_mb": 1, "gpus": 1}]},
         "flavors\\[0\\]: unknown key 'gpus'"),
        ({"flavors": [{"name": "x", "cores": 1, "ram_mb": 1}, {"name": "x", "cores": 2,
                                                               "ram_mb": 2}]},
         "cloud nimbus: flavors: x named twice"),
        ({"price_per_core_hour": "nan"}, "price_per_core_hour: expected a price ≥ 0"),
        ({"price_per_core_hour": -1}, "price_per_core_hour: expected a price ≥ 0"),
        ({"images": "worker"}, "cloud nimbus: images: expected a list of names"),
        ({"single_use": "yes"}, "cloud nimbus: single_use: expected true or false"),
        ({"quota": [4]}, "cloud nimbus: quota: expected"),
        ({"top": {"colour": "blue"}}, "clouds.yaml: unknown key 'colour'"),
        ({"top": {"seed": "abc"}}, "clouds.yaml: seed: expected a whole number"),
        ({"top": {"budgets": {"g1": "lots"}}}, "budgets: g1: expected VM hours"),
        ({"top": {"clouds": [ONE_CLOUD["clouds"][0]] * 2}}, "clouds: nimbus named twice"),
    ],
)  # fmt: skip
def test_a_wrong_clouds_file_names_the_cloud_and_the_field(change, message):
    spec = json.loads(json.dumps(ONE_CLOUD))
    if "clouds" in change:
        spec.update(change)
    elif "top" in change:
        spec.update(change["top"])
    else:
        spec["clouds"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(spec, "clouds.yaml")


def test_unset_settings_are_the_agents_defaults():
    cloud = parse_config(ONE_CLOUD).clouds[0]
    defaults = {f: Cloud._meta.get_field(f).get_default() for f in SETTINGS}
    assert {f: getattr(cloud, f) for f in SETTINGS} == {**defaults, "idle_keep": 100}


def test_the_example_clouds_file_describes_five_clouds():
    config = load_config(EXAMPLE)
    assert [c.name for c in config.clouds] == [
        "arbutus", "cedar", "beluga", "aws-ca-central", "gcp-montreal"
    ]  # fmt: skip


def test_a_clouds_file_that_is_not_yaml_names_its_line_and_column(tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds:\n  - name: a\n   bad: [\n")
    with pytest.raises(ConfigError, match=r"clouds.yaml:3:4: not YAML: "):
        load_config(path)
