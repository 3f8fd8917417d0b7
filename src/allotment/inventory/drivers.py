"""Which engine implementation serves a provisioner or a service: chosen by the database
(Provisioner.driver, Machine.engine), never in code."""

from __future__ import annotations

from allotment.resources.models import Engine, Machine

from .engines import Provisioner as ProvisionerPort
from .engines import ServicePort
from .models import Provisioner, ProvisionerDriver


def provisioner(p: Provisioner) -> ProvisionerPort:
    if p.driver == ProvisionerDriver.IRONIC:
        from allotment.integrations.ironic.provisioner import IronicProvisioner

        return IronicProvisioner(p.options)
    from .local import LocalProvisioner

    return LocalProvisioner(p.name, p.options)


def service(machine: Machine) -> ServicePort:
    if machine.engine == Engine.SLURM:
        from allotment.integrations.slurm.nodes import SlurmNodes

        return SlurmNodes(machine)
    if machine.engine == Engine.OPENSTACK:
        from allotment.integrations.openstack.compute import NovaHosts

        return NovaHosts(machine)
    if machine.engine == Engine.HTCONDOR:
        from allotment.integrations.htcondor.nodes import HTCondorNodes

        return HTCondorNodes(machine)
    from .local import LocalService

    return LocalService(machine.name, machine.engine_options)
