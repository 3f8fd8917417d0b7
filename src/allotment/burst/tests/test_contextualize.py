"""The cloud-init user-data that makes a VM a node of its batch machine: named as the node,
slurmd started against the controller, the site's files fetched from where the site keeps
them, and no secret inside (clouds show user-data to anyone who can read the server)."""

import pytest

from allotment.burst.contextualize import user_data
from allotment.resources.models import Machine

pytestmark = pytest.mark.django_db


def test_a_slurm_vm_starts_slurmd_as_its_node_against_the_controller(example):
    brecca = Machine.objects.get(name="brecca")
    brecca.engine = "slurm"
    brecca.engine_options = {"burst": {
        "controller": "ctl.example.org", "munge_key_url": "https://keys.example.org/munge.key",
    }}  # fmt: skip
    assert user_data(brecca, "burst3").splitlines() == [
        "#cloud-config",
        "hostname: burst3",
        "runcmd:",
        "  - curl -fsS https://keys.example.org/munge.key -o /etc/munge/munge.key && "
        "chmod 400 /etc/munge/munge.key && systemctl restart munge",
        "  - slurmd --conf-server ctl.example.org -N burst3",
    ]


def test_values_from_the_options_are_quoted_for_the_shell(example):
    brecca = Machine.objects.get(name="brecca")
    brecca.engine = "slurm"
    brecca.engine_options = {"burst": {"controller": "ctl; rm -rf /"}}
    assert user_data(brecca, "burst1").splitlines()[-1] == (
        "  - slurmd --conf-server 'ctl; rm -rf /' -N burst1"
    )


def test_another_batch_system_gets_at_least_its_hostname(example):
    brecca = Machine.objects.get(name="brecca")
    assert brecca.engine == "local"
    assert user_data(brecca, "burst2") == "#cloud-config\nhostname: burst2\n"
