"""pytest plugin: the local EC2 (moto's server) for a test session, and a driver on it.

`ec2_endpoint` starts moto's server once per session unless ours runs already (`allot dev
ec2 up`, another session's), and stops it at the end only if it started it and no other test
session is using it (each holds a shared lock on the run directory's users.lock). It lives
at $ALLOTMENT_EC2_DIR (else <var>/ec2). Without moto's server in the virtualenv the tests
that need it are skipped with the reason.

`ec2_cloud` gives a test an Ec2Cloud for it, and terminates at the end the instances the
test booted (every live one whose name starts with the test's own prefix, `ec2_cloud.prefix`),
so tests can share one server.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Iterator

import pytest

from allotment.burst.engines import TAG_KEY, VM_KEY, BootRequest
from allotment.integrations.ec2 import devec2
from allotment.integrations.ec2.driver import Ec2Cloud


@pytest.fixture(scope="session")
def ec2_endpoint() -> Iterator[str]:
    if not devec2.program().exists():
        pytest.skip(f"moto's server is not installed: {devec2.program()} is missing")
    where = devec2.layout()
    where.users.parent.mkdir(parents=True, exist_ok=True)
    with open(where.users, "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)  # another session may be using it till we are done
        try:
            started = devec2.start(log=lambda *_: None)
        except devec2.Ec2DevError as e:
            pytest.fail(f"the local EC2 did not start: {e}", pytrace=False)
        yield devec2.endpoint()
        if not started:
            return
        try:  # stop it, as we found it, unless another session is still using it
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        devec2.down(log=lambda *_: None)


class Ec2ForTests(Ec2Cloud):
    """The driver, with unique VM names for one test and a boot request ready to use."""

    def __init__(self, options: dict):
        super().__init__("moto-test", options)
        self.prefix = f"t{uuid.uuid4().hex[:8]}"

    def vm_name(self, stem: str = "vm") -> str:
        return f"{self.prefix}-{stem}"

    def request(self, stem: str = "vm", **changes) -> BootRequest:
        """A boot of the seeded image on the smallest offered type, tagged as burst does."""
        name = self.vm_name(stem)
        fields = {
            "name": name,
            "flavor_id": devec2.INSTANCE_TYPES[0],
            "image_id": self.image_named(devec2.SEED_IMAGE)["ImageId"],
            "user_data": "#cloud-config\n{}\n",
            "tags": {TAG_KEY: "test-site", VM_KEY: name},
        }
        return BootRequest(**{**fields, **changes})

    def remove_mine(self) -> None:
        for server in self.servers():
            if server.tags.get(VM_KEY, "").startswith(self.prefix + "-"):
                self.delete(server.id)


@pytest.fixture
def ec2_cloud(ec2_endpoint) -> Iterator[Ec2ForTests]:
    cloud = Ec2ForTests(devec2.cloud_options())
    yield cloud
    cloud.remove_mine()
