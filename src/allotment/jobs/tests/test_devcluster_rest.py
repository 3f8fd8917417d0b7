"""`allot dev slurm up`'s JWT settings, written into a directory of the test's own (nothing
is started), and slurmrestd on the running loopback cluster."""

import pwd
import stat
from pathlib import Path

import pytest

from allotment.integrations.slurm import devcluster


def test_the_key_is_made_once_mode_600_and_both_daemons_read_it(tmp_path):
    where = devcluster.Layout(tmp_path)
    devcluster.write_configs(where)
    key = where.jwt_key
    first = key.read_bytes()
    assert (len(first), stat.S_IMODE(key.stat().st_mode)) == (32, 0o600)
    key.chmod(0o644)
    devcluster.write_configs(where)  # every `up` writes the configs again
    assert (key.read_bytes(), stat.S_IMODE(key.stat().st_mode)) == (first, 0o600)
    conf = where.conf.read_text().splitlines()
    dbd = (where.etc / "slurmdbd.conf").read_text().splitlines()
    for lines in (conf, dbd):
        assert "AuthAltTypes=auth/jwt" in lines
        assert f"AuthAltParameters=jwt_key={key}" in lines
    assert "PrivateData=jobs" in conf
    assert stat.S_IMODE(where.jobs.stat().st_mode) == 0o1777


def test_slurmrestd_has_its_fixed_port_and_its_packages():
    assert devcluster.rest_ports() == {"slurmrestd": (17820, "slurmrestd")}
    assert "slurmrestd" in devcluster.PACKAGES and "slurm-wlm-jwt-plugin" in devcluster.PACKAGES


@pytest.mark.slurm
@pytest.mark.slow
def test_slurmrestd_runs_unprivileged_and_wants_a_token(slurm_cluster):
    state = devcluster.status()
    pid = state["components"]["slurmrestd"]["pid"]
    assert state["slurmrestd"]["answers"] is True
    owner = {
        line.split(":")[0]: line.split()[1]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith(("Uid", "Gid"))
    }
    service = pwd.getpwnam(devcluster.REST_USER)
    assert (int(owner["Uid"]), int(owner["Gid"])) == (service.pw_uid, service.pw_gid)
    assert devcluster.rest_answers() == 401  # no token: refused before anything else
