"""Which implementation serves a cloud or a batch machine's queue: chosen by the database
(Cloud.driver, Machine.engine), never in code."""

from __future__ import annotations

from allotment.resources.models import Engine, Machine

from .engines import BatchQueue, CloudDriver
from .models import Cloud, Driver


def cloud(c: Cloud) -> CloudDriver:
    if c.driver == Driver.OPENSTACK:
        from allotment.integrations.openstack.burst import OpenStackCloud

        return OpenStackCloud(c.name, c.options)
    if c.driver == Driver.EC2:
        from allotment.integrations.ec2.driver import Ec2Cloud

        return Ec2Cloud(c.name, c.options)
    from .local import LocalCloud

    return LocalCloud(c.name, c.options)


def queue(machine: Machine) -> BatchQueue:
    if machine.engine == Engine.SLURM:
        from allotment.integrations.slurm.queue import SlurmQueue

        return SlurmQueue(machine)
    if machine.engine == Engine.HTCONDOR:
        from allotment.integrations.htcondor.queue import HTCondorQueue

        return HTCondorQueue(machine)
    from .local import LocalQueue

    return LocalQueue(machine)
