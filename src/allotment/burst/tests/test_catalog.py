"""burst.catalog: clouds added and changed through the checks, refused with the cloud and
the field named, and nothing written when refused."""

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from allotment.burst import catalog
from allotment.burst.models import Cloud
from allotment.resources.models import Machine

pytestmark = pytest.mark.django_db


def refusal(call, *args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as e:
        call(*args, **kwargs)
    return e.value.message_dict if hasattr(e.value, "error_dict") else {"__all__": e.value.messages}


def written() -> tuple[list, list]:
    """Every cloud and machine row, to show a refusal wrote nothing."""
    return (sorted(Cloud.objects.values_list()), sorted(Machine.objects.values_list()))


def test_a_cloud_added_makes_its_cloud_machine_and_serves_the_batch_machine(example):
    cloud = catalog.add_cloud(
        "cumulus", "openstack", serves=["brecca"], options={"cloud": "site-cloud"},
        priority=5, price_per_core_hour="0.02", max_instances=20, tags=["data:vospace"],
        default_image="burst-worker", images=["burst-worker", "gpu-worker"],
    )  # fmt: skip
    cloud.refresh_from_db()
    brecca = Machine.objects.get(name="brecca")
    assert (cloud.machine.kind, cloud.machine.category_id) == ("cloud", brecca.category_id)
    assert cloud.machine.description == "Burst cloud (openstack)"
    assert [m.name for m in cloud.serves.all()] == ["brecca"]
    assert (cloud.driver, cloud.options, cloud.priority, cloud.price_per_core_hour) == (
        "openstack", {"cloud": "site-cloud"}, 5, Decimal("0.020000")
    )  # fmt: skip
    assert (cloud.max_instances, cloud.max_cores, cloud.tags, cloud.images) == (
        20, None, ["data:vospace"], ["burst-worker", "gpu-worker"]
    )  # fmt: skip


def test_a_cloud_added_on_an_existing_cloud_machine_keeps_it(example):
    tango = Machine.objects.get(name="tango")
    Machine.objects.filter(pk=tango.pk).update(kind="cloud")
    cloud = catalog.add_cloud("tango", "local", serves=["brecca"])
    assert cloud.machine_id == tango.pk
    assert Machine.objects.filter(name="tango").count() == 1


def test_adding_a_cloud_is_audited_with_the_machines_it_serves(example):
    cloud = catalog.add_cloud("cumulus", "local", serves=["brecca"])
    entries = LogEntry.objects.get_for_object(cloud)
    assert sorted(e.get_action_display() for e in entries) == ["create", "update"]
    serves = next(e for e in entries if "serves" in (e.changes_dict or {}))
    assert serves.changes_dict["serves"]["objects"] == ["brecca"]
    catalog.set_cloud("cumulus", priority=3)
    latest = LogEntry.objects.get_for_object(cloud).order_by("-pk").first()
    assert latest.changes_dict == {"priority": [10, 3]}


def test_set_changes_only_what_is_given_and_serves_replaces(example):
    catalog.add_cloud("cumulus", "local", serves=["brecca"], max_cores=16, tags=["a"])
    cloud = catalog.set_cloud("cumulus", max_cores=None, idle_keep=120, serves=[])
    cloud.refresh_from_db()
    assert (cloud.max_cores, cloud.idle_keep, cloud.tags, list(cloud.serves.all())) == (
        None, 120, ["a"], []
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"driver": "gcp"}, "driver",
         'Cloud "cumulus": "gcp" is not a cloud driver; use one of local, openstack, ec2.'),
        ({"options": {"cloud": "c", "password": "hunter2"}}, "options",
         'Cloud "cumulus": option "password" looks like a credential; name where it is kept '
         "(a clouds.yaml entry, an AWS profile or credentials file), not the value."),
        ({"options": {"auth": {"x": 1}}}, "options",
         'Cloud "cumulus": option "auth" looks like a credential; name where it is kept '
         "(a clouds.yaml entry, an AWS profile or credentials file), not the value."),
        ({"options": {"region": "r", "aws_secret_access_key": "s"}}, "options",
         'Cloud "cumulus": option "aws_secret_access_key" looks like a credential; name where '
         "it is kept (a clouds.yaml entry, an AWS profile or credentials file), not the value."),
        ({"serves": ["nowhere"]}, "serves",
         'Cloud "cumulus": there is no batch machine "nowhere" to serve.'),
        ({"serves": ["nimbus"]}, "serves",
         'Cloud "cumulus": machine nimbus is of kind cloud; a cloud serves the queues of batch '
         "machines."),
        ({"max_cores": -1}, "max_cores",
         'Cloud "cumulus": max_cores must be a whole number, 0 or more, or none (-1 is '
         "negative)."),
        ({"max_starting": -2}, "max_starting",
         'Cloud "cumulus": max_starting must be a whole number, 0 or more (-2 is negative).'),
        ({"boot_timeout": 0}, "boot_timeout",
         'Cloud "cumulus": boot_timeout must be a whole number of seconds above 0 (0 is not '
         "above 0)."),
        ({"price_per_core_hour": "-0.5"}, "price_per_core_hour",
         'Cloud "cumulus": price_per_core_hour must be a number, 0 or more (-0.5 is not a '
         "price, 0 or more)."),
        ({"tags": "data"}, "tags",
         "Cloud \"cumulus\": tags must be names ('data' is not a list of names)."),
    ],
)  # fmt: skip
def test_a_bad_setting_is_refused_naming_the_cloud_and_field_and_nothing_is_written(
    burst_site, kwargs, field, message
):
    catalog.add_cloud("cumulus", "local", serves=["brecca"])
    before = written()
    assert refusal(catalog.set_cloud, "cumulus", **kwargs) == {field: [message]}
    assert written() == before
    add = {"driver": "local", "serves": ["brecca"]} | kwargs
    assert refusal(catalog.add_cloud, "cirrus", **add) == {field: [message.replace(
        "cumulus", "cirrus")]}  # fmt: skip
    assert written() == before


def test_options_naming_where_credentials_are_are_taken(example):
    options = {"region": "us-east-1", "profile": "burst", "credentials_file": "/etc/aws",
               "key_name": "ops", "clouds_yaml": "/etc/openstack/clouds.yaml"}  # fmt: skip
    assert catalog.add_cloud("cumulus", "ec2", serves=["brecca"], options=options).options == (
        options
    )


def test_a_machine_of_another_kind_or_a_cloud_already_is_refused(burst_site):
    before = written()
    assert refusal(catalog.add_cloud, "brecca", "local") == {
        "name": ["Machine brecca is of kind batch; a burst cloud is a machine of kind cloud."]
    }
    assert refusal(catalog.add_cloud, "nimbus", "local") == {
        "name": ['There is already a cloud named "nimbus".']
    }
    assert written() == before


def test_a_new_machine_needs_a_category_when_it_serves_nothing(example):
    assert refusal(catalog.add_cloud, "cumulus", "local") == {
        "category": ["Give the new cloud machine's category (it serves no batch machine to "
                     "take it from)."]
    }  # fmt: skip
    category = Machine.objects.get(name="brecca").category.name
    assert catalog.add_cloud("cumulus", "local", category=category).machine.kind == "cloud"


def test_an_unknown_cloud_or_nothing_to_set_is_refused(burst_site):
    assert refusal(catalog.set_cloud, "nowhere", priority=1) == {
        "__all__": ['There is no cloud "nowhere".']
    }
    assert refusal(catalog.set_cloud, "nimbus") == {
        "__all__": ['Cloud "nimbus": nothing to change.']
    }


def test_option_pairs_read_json_values_and_refuse_what_is_not_a_pair():
    assert catalog.options_from_pairs(["cloud=site", "boot_seconds=0", "zones=[\"a\"]"]) == {
        "cloud": "site", "boot_seconds": 0, "zones": ["a"]
    }  # fmt: skip
    with pytest.raises(ValidationError) as e:
        catalog.options_from_pairs(["cloud"])
    assert e.value.message_dict == {"options": ['"cloud" is not key=value.']}
