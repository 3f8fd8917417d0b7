"""`allot dev ec2 up` points the ledger's EC2 cloud at moto's server, keeping what the site
chose (its instance types), and leaves other clouds alone."""

import datetime
from pathlib import Path

import pytest

from allotment.integrations.ec2 import devec2


@pytest.fixture
def ec2_row(example):
    from allotment.burst.models import Cloud, Driver
    from allotment.resources.models import Machine, MachineKind

    brecca = Machine.objects.get(name="brecca")
    machine = Machine.objects.create(
        name="ec2-test", category=brecca.category, kind=MachineKind.CLOUD,
        start_date=datetime.date(2100, 1, 1),
    )  # fmt: skip
    options = {"region": "eu-west-1", "profile": "site", "instance_types": ["c5.xlarge"]}
    return Cloud.objects.create(machine=machine, driver=Driver.EC2, options=options)


def test_point_cloud_sets_endpoint_and_credentials_and_keeps_types(ec2_row, tmp_path):
    where = devec2.Layout(Path(tmp_path))
    assert devec2.point_cloud_at("ec2-test", where) is True
    ec2_row.refresh_from_db()
    assert ec2_row.options == {
        "region": "us-east-1",
        "endpoint_url": f"http://127.0.0.1:{devec2.PORT}",
        "profile": "moto",
        "credentials_file": str(tmp_path / "credentials"),
        "instance_types": ["c5.xlarge"],
    }


def test_point_cloud_without_such_an_ec2_cloud_is_false(ec2_row):
    assert devec2.point_cloud_at("brecca") is False
    assert devec2.point_cloud_at("nonesuch") is False
