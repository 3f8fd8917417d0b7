"""The local EC2 started, found running, seeded once and stopped, for real.

It runs on a port and in a run directory of its own, so the session's server that other
tests use is left alone.
"""

import os
import socket

import pytest

from allotment.integrations import devrun
from allotment.integrations.ec2 import devec2
from allotment.integrations.ec2.driver import Ec2Cloud

pytestmark = [pytest.mark.ec2, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_ec2(tmp_path, monkeypatch):
    if not devec2.program().exists():
        pytest.skip(f"moto's server is not installed: {devec2.program()} is missing")
    monkeypatch.setattr(devec2, "PORT", free_port())
    monkeypatch.setenv("ALLOTMENT_EC2_DIR", str(tmp_path / "ec2"))
    yield devec2.layout()
    devec2.down(log=lambda *_: None)


def seeded(where) -> list[str]:
    cloud = Ec2Cloud("own", devec2.cloud_options(where))
    return [i.name for i in cloud.images()]


def test_up_twice_is_one_seeded_server_and_down_twice_is_fine(own_ec2):
    said = []
    assert devec2.start(log=said.append) is True
    assert said[0].startswith(f"moto's server is up at http://127.0.0.1:{devec2.PORT} in ")
    pid = devec2.status()["components"]["moto_server"]["pid"]
    assert devec2.start(log=said.append) is False
    assert len(said) == 1
    state = devec2.status()
    assert (state["up"], state["components"]["moto_server"]["pid"], state["instances"]) == (
        True, pid, 0
    )  # fmt: skip
    assert seeded(own_ec2) == [devec2.SEED_IMAGE]
    assert "[moto]\naws_access_key_id" in own_ec2.credentials.read_text()
    entry = devrun.load(own_ec2.pids)["moto_server"]
    assert devec2.running(entry)
    assert devec2.down(log=said.append) is True
    assert devec2.down(log=said.append) is False
    assert not devec2.running(entry)
    assert not devec2.status()["up"]


def test_fresh_starts_empty_and_seeds_again(own_ec2):
    devec2.start(log=lambda *_: None)
    cloud = Ec2Cloud("own", devec2.cloud_options(own_ec2))
    disk = own_ec2.root / "disk.raw"
    disk.write_bytes(b"x" * 1000)
    cloud.put_image("extra", "sha256:" + "e" * 64, disk)
    assert sorted(seeded(own_ec2)) == [devec2.SEED_IMAGE, "extra"]
    devec2.up(fresh=True, log=lambda *_: None)
    assert seeded(own_ec2) == [devec2.SEED_IMAGE]


def test_a_taken_port_is_refused_naming_its_holder(own_ec2):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", devec2.PORT))
        holder.listen(1)
        taken = rf"port {devec2.PORT} on 127.0.0.1, needed by moto_server, is taken by pid "
        with pytest.raises(devec2.Ec2DevError, match=taken + str(os.getpid())) as e:
            devec2.up(log=lambda *_: None)
    assert "allot dev ec2 up" in str(e.value)
    assert not devec2.status()["components"]["moto_server"]["running"]
