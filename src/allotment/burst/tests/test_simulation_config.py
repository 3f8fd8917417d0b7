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
    ],
)  # fmt: skip
def test_a_wrong_clouds_file_names_the_cloud_and_the_field(change, message):
    spec = json.loads(json.dumps(ONE_CLOUD))
    if "clouds" in change:
        spec.update(change)
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
