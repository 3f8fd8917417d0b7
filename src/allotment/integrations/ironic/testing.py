"""pytest plugin: the real local Ironic for a test session, and nodes that clean up after.

`ironic_endpoint` starts Ironic once per session if nothing answers at its endpoint, and
stops it at the end only if it started it and no other test session is using it (each holds
a shared lock on the run directory's users.lock); an Ironic already answering (`allot dev
ironic up`, another run's) is used as it is. Where Ironic cannot be installed (no network for
pip), the tests that need it are skipped with the reason. It lives at $ALLOTMENT_IRONIC_DIR
(else <var>/ironic): point that at a lasting directory, or every run installs it again.

`ironic` gives a test a provisioner for that Ironic, unique node names, a tight wait on
statuses, and removes the nodes it named at the end, so tests can share one Ironic.
"""

from __future__ import annotations

import fcntl
import time
import uuid
from collections.abc import Iterable, Iterator

import pytest

from allotment.integrations.ironic import devironic
from allotment.integrations.ironic.provisioner import IronicProvisioner
from allotment.inventory.engines import Provision, ProvisionStatus


@pytest.fixture(scope="session")
def ironic_endpoint() -> Iterator[str]:
    where = devironic.layout()
    where.users.parent.mkdir(parents=True, exist_ok=True)
    with open(where.users, "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)  # another session may be using it till we are done
        started = False
        if not devironic.answers():
            try:
                started = devironic.start(log=lambda *_: None)
            except devironic.IronicInstallError as e:
                pytest.skip(f"the local Ironic could not be installed: {e}")
            except devironic.IronicError as e:
                pytest.fail(f"the local Ironic did not start: {e}", pytrace=False)
        yield devironic.endpoint()
        if not started:
            return
        try:  # stop it, as we found it, unless another session is still using it
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        devironic.down(log=lambda *_: None)


class IronicForTests:
    """A provisioner on the test session's Ironic, and the nodes a test made there."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.provisioner = IronicProvisioner({"endpoint": endpoint})
        self.prefix = f"t{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def name(self, stem: str = "node") -> str:
        """A node name no other test or run uses, removed from Ironic after the test."""
        name = f"{self.prefix}-{stem}-{len(self.names) + 1}"
        self.names.append(name)
        return name

    def wait_for(
        self, idents: Iterable[str], state: Provision, timeout: float = 30
    ) -> dict[str, ProvisionStatus]:
        """Poll statuses (one listing each time) every 50 ms until every node is in `state`."""
        idents = list(idents)
        deadline = time.monotonic() + timeout
        while True:
            seen = self.provisioner.statuses(idents)
            if all(s.state == state for s in seen.values()):
                return seen
            if time.monotonic() > deadline:
                others = {i: s for i, s in seen.items() if s.state != state}
                raise AssertionError(f"not {state} within {timeout} s: {others}")
            time.sleep(0.05)

    def remove_all(self) -> None:
        """Delete the nodes this test named, in whatever state (maintenance allows it)."""
        p = self.provisioner
        for name in self.names:
            found = p._find(name)
            if found is not None:
                uuid = found.id
                p.request("set maintenance on", name, lambda bm, u=uuid: bm.set_node_maintenance(u))
                p.request("delete", name, lambda bm, u=uuid: bm.delete_node(u))


@pytest.fixture
def ironic(ironic_endpoint) -> Iterator[IronicForTests]:
    helper = IronicForTests(ironic_endpoint)
    yield helper
    helper.remove_all()
