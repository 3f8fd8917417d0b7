"""Running Slurm's accounting tools for one cluster, and reading their parsable output."""

import os
import subprocess
from dataclasses import dataclass


class SlurmError(RuntimeError):
    """A Slurm command failed; the message holds the command and what it printed."""


@dataclass
class Cluster:
    name: str
    slurm_conf: str | None = None

    @classmethod
    def of(cls, machine) -> "Cluster":
        options = machine.engine_options or {}
        return cls(options.get("cluster") or machine.name, options.get("slurm_conf") or None)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        return env

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run a command for this cluster; `env` holds variables to set on top (e.g. TZ)."""
        done = subprocess.run(
            list(args),
            input=stdin,
            env={**self.env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and done.returncode != 0:
            raise SlurmError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def attempt(self, *args: str) -> tuple[int, str]:
        """Run a command that may be refused: (exit code, everything it printed)."""
        done = subprocess.run(
            list(args), env=self.env(), capture_output=True, text=True, timeout=600
        )
        return done.returncode, (done.stdout + done.stderr).strip()

    def start(self, *command: str) -> "Pending":
        """Start a '|'-separated query now; read its rows later (queries run side by side)."""
        child = subprocess.Popen(
            command, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return Pending(list(command), child)

    def start_rows(self, *args: str) -> "Pending":
        """`sacctmgr -n -P ...`."""
        return self.start("sacctmgr", "-n", "-P", *args)

    def start_sshare(self) -> "Pending":
        """Slurm's usage count per association, in CPU minutes (GrpTRESRaw)."""
        return self.start("sshare", "-n", "-P", "-a", f"--clusters={self.name}",
                          "-o", "Account,User,GrpTRESRaw")  # fmt: skip


@dataclass
class Pending:
    command: list[str]
    child: subprocess.Popen

    def rows(self) -> list[list[str]]:
        out, err = self.child.communicate(timeout=600)
        if self.child.returncode != 0:
            raise SlurmError(f"{' '.join(self.command)} failed: {err.strip()}")
        return [line.split("|") for line in out.splitlines() if line.strip()]
