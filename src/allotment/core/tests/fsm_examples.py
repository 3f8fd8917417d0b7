"""Example declarations (a bare-metal node shifting between Slurm and OpenStack, a burst VM)
and a test-only stateful model, for the state-machine tests.

The real declarations come with the shift and burst work; these show the mechanism carries
them. The model lives in an isolated app registry, so no migration knows it: `table` creates
its table outside any test transaction (SQLite's schema editor refuses to run inside one)
and drops it after the module.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.test.utils import isolate_apps

from allotment.core import fsm
from allotment.core.models import Stateful


class NodeStates(fsm.Machine):
    """A bare-metal node moving between the batch system and the cloud."""

    initial = "enrolled"

    enrolled = fsm.Stable()
    available = fsm.Stable()
    provisioning = fsm.Transitional(
        target="in_service", timeout=timedelta(minutes=30), fails_to="provision_failed"
    )
    joining = fsm.Transitional(
        target="in_service", timeout=timedelta(minutes=15), fails_to="join_failed"
    )
    in_service = fsm.Stable()
    draining = fsm.Transitional(
        target="drained", timeout=timedelta(hours=2), fails_to="drain_timeout"
    )
    drained = fsm.Stable()
    leaving = fsm.Transitional(
        target="available", timeout=timedelta(minutes=15), fails_to="leave_failed"
    )
    provision_failed = fsm.Failed(retry="provisioning", abort="available")
    join_failed = fsm.Failed(retry="joining", abort="available")
    drain_timeout = fsm.Failed(retry="draining", force="drained", abort="in_service")
    leave_failed = fsm.Failed(retry="leaving", force="available")

    inspect = fsm.Event("enrolled", "available")
    provision = fsm.Event("available", "provisioning")
    provisioned = fsm.Event("provisioning", "joining")
    joined = fsm.Event("joining", "in_service")
    drain = fsm.Event("in_service", "draining")
    emptied = fsm.Event("draining", "drained")
    leave = fsm.Event("drained", "leaving")
    left = fsm.Event("leaving", "available")


class VMStates(fsm.Machine):
    """A burst VM: asked for, booted, registered with the batch system, retired."""

    initial = "requested"

    requested = fsm.Transitional(
        target="idle", timeout=timedelta(minutes=10), fails_to="boot_failed"
    )
    booting = fsm.Transitional(target="idle", timeout=timedelta(minutes=15), fails_to="boot_failed")
    registered = fsm.Transitional(
        target="idle", timeout=timedelta(minutes=10), fails_to="register_failed"
    )
    idle = fsm.Stable()
    busy = fsm.Stable()
    retiring = fsm.Transitional(
        target="deleted", timeout=timedelta(minutes=30), fails_to="retire_failed"
    )
    deleted = fsm.Stable()
    boot_failed = fsm.Failed(retry="booting")
    register_failed = fsm.Failed(retry="registered")
    retire_failed = fsm.Failed(retry="retiring", force="deleted")

    boot = fsm.Event("requested", "booting")
    booted = fsm.Event("booting", "registered")
    ready = fsm.Event("registered", "idle")
    take_job = fsm.Event("idle", "busy")
    free = fsm.Event("busy", "idle")
    retire = fsm.Event(["idle", "boot_failed", "register_failed"], "retiring")
    gone = fsm.Event("retiring", "deleted")


with isolate_apps("allotment.core"):

    class Server(Stateful):
        """A test-only node."""

        machine = NodeStates
        name = models.CharField(max_length=50, unique=True)

        class Meta:
            app_label = "core"

        def __str__(self) -> str:
            return self.name


@contextmanager
def table(blocker):
    """Server's table, and its content type, committed for the duration."""
    with blocker.unblock():
        with connection.schema_editor() as editor:
            editor.create_model(Server)
        ContentType.objects.clear_cache()
        ContentType.objects.get_for_model(Server)
    try:
        yield Server
    finally:
        with blocker.unblock(), connection.schema_editor() as editor:
            editor.delete_model(Server)
