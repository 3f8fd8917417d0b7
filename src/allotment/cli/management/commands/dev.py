"""allot dev: development helpers, such as a real Slurm cluster on loopback."""

from typing import Annotated

import typer
from django_typer.management import group

from allotment.cli.output import AllotCommand, JsonOption, emit_json, fail, say


class Command(AllotCommand):
    help = "Development helpers: real Slurm, Ironic, OpenStack and EC2 (moto) on loopback."

    @group()
    def slurm(self):
        """A real Slurm 22.05 cluster named brecca on 127.0.0.1, kept under var/slurm/."""

    @slurm.command()
    def up(
        self,
        fresh: Annotated[bool, typer.Option(help="Wipe its state and database first")] = False,
    ):
        """Install (if needed) and start munge, MariaDB, slurmdbd, slurmctld and the nodes."""
        from allotment.integrations.slurm import devcluster

        try:
            devcluster.up(fresh=fresh, log=say)
        except devcluster.ClusterError as e:
            fail(str(e))

    @slurm.command()
    def down(self):
        """Stop the processes `up` started (and nothing else)."""
        from allotment.integrations.slurm import devcluster

        stopped = devcluster.down(log=say)
        if not stopped:
            say("Nothing of ours was running.")

    @slurm.command()
    def status(self, as_json: JsonOption = False):
        """Which components run, and what sinfo says."""
        from allotment.integrations.slurm import devcluster

        state = devcluster.status()
        if as_json:
            return emit_json(state)
        say(f"cluster {state['cluster']}: {'up' if state['up'] else 'not up'}"
            f" (packages {'installed' if state['installed'] else 'missing'})")  # fmt: skip
        for name, c in state["components"].items():
            say(f"  {name:16} pid {c['pid']:>7}  {'running' if c['running'] else 'stopped'}")
        if state["sinfo"]:
            say(state["sinfo"])

    @slurm.command()
    def env(self):
        """Shell exports for sinfo, sbatch and sacctmgr by hand: eval "$(allot dev slurm env)"."""
        from allotment.integrations.slurm import devcluster

        print(f"export SLURM_CONF={devcluster.layout().conf}")

    @group()
    def ironic(self):
        """A real standalone Ironic (fake hardware) on 127.0.0.1:6385, under var/ironic/."""

    @ironic.command("up")
    def ironic_up(
        self,
        fresh: Annotated[bool, typer.Option(help="Wipe its database first")] = False,
    ):
        """Install Ironic in its own virtualenv (if needed) and start it."""
        from allotment.integrations.ironic import devironic

        try:
            endpoint = devironic.up(fresh=fresh, log=say)
        except devironic.IronicError as e:
            fail(str(e))
        say(f"Ironic answers at {endpoint}")
        pointed = devironic.point_inventory_at(endpoint)
        if pointed:
            say(f"{pointed} node(s) of the inventory now use it (provisioner ironic).")

    @ironic.command("down")
    def ironic_down(self):
        """Stop the Ironic that `up` started (and nothing else)."""
        from allotment.integrations.ironic import devironic

        if not devironic.down(log=say):
            say("Nothing of ours was running.")

    @ironic.command("status")
    def ironic_status(self, as_json: JsonOption = False):
        """Whether Ironic runs, where, and how many nodes it knows."""
        from allotment.integrations.ironic import devironic

        _print_status("Ironic", devironic.status(), as_json)

    @ironic.command("env")
    def ironic_env(self):
        """Shell exports for the `baremetal` client: eval "$(allot dev ironic env)"."""
        from allotment.integrations.ironic import devironic

        print("\n".join(devironic.env_lines()))

    @group()
    def openstack(self):
        """A real OpenStack cloud (Keystone, Placement, Glance, Nova with fake hypervisors) named
        tango on 127.0.0.1, under var/openstack/; Neutron is a stand-in."""

    @openstack.command("up")
    def openstack_up(
        self,
        fresh: Annotated[bool, typer.Option(help="Drop its databases and start afresh")] = False,
    ):
        """Install the cloud in its own virtualenv (if needed), initialise it once, start it."""
        from allotment.integrations.openstack import devcloud

        try:
            where = devcloud.up(fresh=fresh, log=say)
        except devcloud.CloudError as e:
            fail(str(e))
        say(f"cloud {where.get('cloud', 'tango')} is up; clouds.yaml: {where.get('clouds_yaml')}")
        from allotment.burst.services import point_cloud

        burst = {"cloud": where.get("burst_cloud", "tango-burst"), "loopback": True,
                 "clouds_yaml": str(where.get("clouds_yaml", ""))}  # fmt: skip
        if where.get("clouds_yaml") and point_cloud("tango", "openstack", burst):
            say(f"The burst cloud tango now uses it (project {burst['cloud']}), enabled.")

    @openstack.command("down")
    def openstack_down(self):
        """Stop the cloud's processes that `up` started (and nothing else)."""
        from allotment.integrations.openstack import devcloud

        if not devcloud.down(log=say):
            say("Nothing of ours was running.")

    @openstack.command("status")
    def openstack_status(self, as_json: JsonOption = False):
        """Which of the cloud's services run, and its compute hosts."""
        from allotment.integrations.openstack import devcloud

        _print_status("OpenStack", devcloud.status(), as_json)

    @openstack.command("env")
    def openstack_env(self):
        """Shell exports for the `openstack` client: eval "$(allot dev openstack env)"."""
        from allotment.integrations.openstack import devcloud

        print("\n".join(devcloud.env_lines()))

    @group()
    def ec2(self):
        """A local EC2 (moto's server) on 127.0.0.1:5055, seeded for the example site, under
        var/ec2/."""

    @ec2.command("up")
    def ec2_up(
        self,
        fresh: Annotated[bool, typer.Option(help="Restart it empty (then seed it)")] = False,
    ):
        """Start moto's server (if ours is not running) and seed the burst-worker AMI."""
        from allotment.integrations.ec2 import devec2

        try:
            endpoint = devec2.up(fresh=fresh, log=say)
        except devec2.Ec2DevError as e:
            fail(str(e))
        say(f"EC2 (moto) answers at {endpoint}; credentials: {devec2.layout().credentials}"
            f" (profile {devec2.PROFILE})")  # fmt: skip
        if devec2.point_cloud_at():
            from allotment.burst.services import point_cloud

            point_cloud(devec2.CLOUD, "ec2")
            say(f"The burst cloud {devec2.CLOUD} now uses it, enabled.")

    @ec2.command("down")
    def ec2_down(self):
        """Stop the server that `up` started (and nothing else); its state goes with it."""
        from allotment.integrations.ec2 import devec2

        if not devec2.down(log=say):
            say("Nothing of ours was running.")

    @ec2.command("status")
    def ec2_status(self, as_json: JsonOption = False):
        """Whether moto's server runs, where, and how many instances it has."""
        from allotment.integrations.ec2 import devec2

        _print_status("EC2 (moto)", devec2.status(), as_json)

    @ec2.command("env")
    def ec2_env(self):
        """Shell exports for the aws CLI and boto3: eval "$(allot dev ec2 env)"."""
        from allotment.integrations.ec2 import devec2

        print("\n".join(devec2.env_lines()))


def _print_status(what: str, state: dict, as_json: bool) -> None:
    if as_json:
        return emit_json(state)
    say(f"{what}: {'up' if state.get('up') else 'not up'}"
        f" ({'installed' if state.get('installed') else 'not installed'})")  # fmt: skip
    for name, c in state.get("components", {}).items():
        running = "running" if c.get("running") else "stopped"
        say(f"  {name:20} pid {c.get('pid') or '-':>7}  {running}")
    for key, value in state.items():
        if key not in ("up", "installed", "components") and value not in (None, "", [], {}):
            say(f"  {key}: {value}")
