"""The cloud-init user-data of a burst VM of an HTCondor machine (burst.contextualize →
integrations.htcondor.contextualize): a startd configuration naming the central manager
and the VM, condor restarted, the pool's credential fetched from where the site keeps it
and never written inline."""

from types import SimpleNamespace

import pytest
import yaml

from allotment.burst.contextualize import user_data

TOKEN_URL = "https://vault.brecca.example.org/v1/condor/burst-token"


def brecca(**burst):
    return SimpleNamespace(
        name="brecca",
        engine="htcondor",
        engine_options={"collector": "cm.brecca.example.org:9618", "burst": burst},
    )


def test_an_htcondor_vm_writes_a_startd_configuration_and_starts_condor():
    text = user_data(brecca(token_url=TOKEN_URL), "brecca-vm003")
    assert text.splitlines() == [
        "#cloud-config",
        "hostname: brecca-vm003",
        "write_files:",
        "  - path: /etc/condor/config.d/90-allotment-burst.conf",
        "    permissions: '0644'",
        "    content: |",
        "      # Allotment burst: brecca-vm003 is an execute node of HTCondor machine brecca",
        "      CONDOR_HOST = cm.brecca.example.org",
        "      DAEMON_LIST = MASTER, STARTD",
        "      NETWORK_HOSTNAME = brecca-vm003",
        "      START = true",
        "      MAXJOBRETIREMENTTIME = 7 * $(DAY)",
        '      AllotmentVM = "brecca-vm003"',
        "      STARTD_ATTRS = $(STARTD_ATTRS) AllotmentVM",
        "      NUM_SLOTS = 1",
        "      NUM_SLOTS_TYPE_1 = 1",
        "      SLOT_TYPE_1 = 100%",
        "      SLOT_TYPE_1_PARTITIONABLE = true",
        "runcmd:",
        "  - 'install -d -m 0700 /etc/condor/tokens.d && curl -fsS "
        "https://vault.brecca.example.org/v1/condor/burst-token -o "
        "/etc/condor/tokens.d/allotment-burst && chmod 600 /etc/condor/tokens.d/allotment-burst'",
        "  - 'systemctl enable condor && systemctl restart condor'",
    ]


def test_the_user_data_is_cloud_config_yaml():
    cloud_config = yaml.safe_load(user_data(brecca(token_url=TOKEN_URL), "brecca-vm003"))
    assert cloud_config["hostname"] == "brecca-vm003"
    [config] = cloud_config["write_files"]
    assert config["content"].splitlines()[1:3] == [
        "CONDOR_HOST = cm.brecca.example.org",
        "DAEMON_LIST = MASTER, STARTD",
    ]
    assert cloud_config["runcmd"][-1] == "systemctl enable condor && systemctl restart condor"


def test_a_pool_password_is_fetched_and_never_written_inline():
    batch = brecca(pool_password_url="https://keys.brecca.example.org/pool password")
    with pytest.raises(ValueError, match=r"pool_password_url .* is not an http"):
        user_data(batch, "brecca-vm001")  # a space: not a URL, not quoted into a command
    batch = brecca(pool_password_url="https://keys.brecca.example.org/pool")
    batch.engine_options["burst"]["pool_password"] = "s3cret-pool-password"  # misplaced
    text = user_data(batch, "brecca-vm001")
    assert "s3cret" not in text
    assert yaml.safe_load(text)["runcmd"][0] == (
        "install -d -m 0700 /etc/condor/passwords.d && curl -fsS "
        "https://keys.brecca.example.org/pool -o /etc/condor/passwords.d/POOL && "
        "chmod 600 /etc/condor/passwords.d/POOL"
    )


def test_a_collector_on_another_port_is_named_with_it():
    text = user_data(brecca(central_manager="cm2.brecca.example.org:9619"), "brecca-vm001")
    assert "      CONDOR_HOST = cm2.brecca.example.org\n" in text
    assert "      COLLECTOR_HOST = cm2.brecca.example.org:9619\n" in text


@pytest.mark.parametrize(
    "central_manager",
    ["", "cm.example.org\nSTART = false", "cm.example.org\n", "cm.example.org:96x8"],
)
def test_a_central_manager_that_is_not_host_and_port_is_refused(central_manager):
    options = {"burst": {"central_manager": central_manager}}
    batch = SimpleNamespace(name="brecca", engine="htcondor", engine_options=options)
    with pytest.raises(ValueError, match=r"is not host\[:port\]"):
        user_data(batch, "brecca-vm001")
