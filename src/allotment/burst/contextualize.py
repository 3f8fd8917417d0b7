"""Cloud-init user-data that makes a booted VM a node of its batch machine.

Slurm: the VM is named as a node slurm.conf declares (FUTURE or CLOUD nodes of the burst
partition), so it only has to reach the controller and start slurmd under that name; the
munge key and slurm.conf come from where the site keeps them (engine_options "burst":
{"config_url": ..., "munge_key_url": ...}), never from the user-data itself, which the
cloud stores and shows to anyone who can read the server.

HTCondor: a startd configuration and condor started (integrations.htcondor.contextualize).
"""

from __future__ import annotations

import shlex

from allotment.resources.models import Engine, Machine


def user_data(batch: Machine, vm_name: str) -> str:
    burst = (batch.engine_options or {}).get("burst", {})
    controller = burst.get("controller") or (batch.engine_options or {}).get("host", "")
    if batch.engine == Engine.SLURM:
        config_url = burst.get("config_url", "")
        key_url = burst.get("munge_key_url", "")
        lines = [
            "#cloud-config",
            f"hostname: {vm_name}",
            "runcmd:",
        ]
        if key_url:
            lines.append(
                f"  - curl -fsS {shlex.quote(key_url)} -o /etc/munge/munge.key && "
                "chmod 400 /etc/munge/munge.key && systemctl restart munge"
            )
        if config_url:
            lines.append(f"  - curl -fsS {shlex.quote(config_url)} -o /etc/slurm/slurm.conf")
        # configless Slurm (slurmctld's SlurmctldParameters=enable_configless) needs only
        # the controller's address
        server = f"--conf-server {shlex.quote(controller)} " if controller else ""
        lines.append(f"  - slurmd {server}-N {shlex.quote(vm_name)}")
        return "\n".join(lines) + "\n"
    if batch.engine == Engine.HTCONDOR:
        from allotment.integrations.htcondor.contextualize import startd_user_data

        return startd_user_data(batch, vm_name)
    return f"#cloud-config\nhostname: {vm_name}\n"
