"""Installing Debian packages, as root, for the development cluster and the browser tests."""

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

POLICY = Path("/usr/sbin/policy-rc.d")


class AptError(RuntimeError):
    """apt-get could not install the packages; the message ends with what it printed."""


def apt_install(packages: Iterable[str]) -> None:
    """`apt-get install` the packages without recommends, after an `apt-get update`.

    Needs root. Services the packages ship are not started (a policy-rc.d refusing them is
    in place during the install, unless the system already has one). Raises AptError
    with the tail of apt-get's stderr when the install fails.
    """
    packages = list(packages)
    made_policy = not POLICY.exists()
    if made_policy:
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AptError(f"apt-get install {' '.join(packages)} failed:\n{done.stderr[-2000:]}")
    finally:
        if made_policy:
            POLICY.unlink(missing_ok=True)
