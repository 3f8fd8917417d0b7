"""allot dev: development helpers, such as a real Slurm cluster on loopback."""

from typing import Annotated

import typer
from django_typer.management import group

from allotment.cli.output import AllotCommand, JsonOption, emit_json, fail, say


class Command(AllotCommand):
    help = "Development helpers: a real Slurm cluster on loopback."

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
