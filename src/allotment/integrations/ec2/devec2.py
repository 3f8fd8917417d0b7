"""A local EC2 on loopback for tests, CI and the demo (`allot dev ec2`): moto's server.

`moto_server` (moto[server], installed in the project's virtualenv beside this Python) on
127.0.0.1:5055, started in a session of its own and recorded with its pid and start time
under the run directory ($ALLOTMENT_EC2_DIR, else <var>/ec2), so `down` stops it and nothing
else (devrun). It is told to check instance types and AMIs as EC2 does (an unknown one is
an error, not a made-up instance) and to load none of its sample AMIs. Its state lives in
its memory: every start begins empty, and `up` seeds what the example site needs, once:

- the AWS credentials file <run dir>/credentials with profile "moto" (dummy keys: moto
  takes any), which the Cloud's options name;
- one AMI, "burst-worker", tagged allotment-checksum with the sha256 of the local cloud's
  burst-worker (burst.local.DEFAULT_IMAGE_DATA, the example site's first burst cloud): burst's
  image sync takes the copies' checksum for the reference when the catalog has none, so EC2's
  copy is the same image, not a conflict. Its bytes are not there: an AMI needs none in moto.

`point_cloud_at` then gives the example site's EC2 cloud (ec2-east) this endpoint and
credentials file; whether it is enabled stays the operator's choice.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from allotment.burst.local import DEFAULT_IMAGE, DEFAULT_IMAGE_DATA, image_checksum
from allotment.integrations import devrun
from allotment.integrations.devrun import Log, running

HOST = "127.0.0.1"
PORT = 5055
REGION = "us-east-1"
PROFILE = "moto"
NAME = "moto_server"
START_TIMEOUT = 30  # s: it answers about 1.5 s after launch
STOP_TIMEOUT = 10  # s
SEED_IMAGE = DEFAULT_IMAGE
SEED_CHECKSUM = image_checksum(DEFAULT_IMAGE_DATA)
CLOUD = "ec2-east"  # the example site's EC2 cloud (demo/site.py)
INSTANCE_TYPES = ["t3.micro", "t3.small", "t3.medium", "c5.xlarge"]
POINTED = ("region", "endpoint_url", "profile", "credentials_file")  # what point_cloud_at sets
# EC2 as it is, not moto's defaults: unknown instance types and AMIs are refused, and only
# the images we seed or copy exist.
MOTO_ENV = {
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


class Ec2DevError(RuntimeError):
    """The local EC2 could not be brought to the asked state; the message says why."""


@dataclass(frozen=True)
class Layout(devrun.RunDir):
    @property
    def log(self) -> Path:
        return self.root / "log" / "moto.log"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"


def layout() -> Layout:
    return Layout(devrun.run_root("ALLOTMENT_EC2_DIR", "ec2"))


def endpoint() -> str:
    return f"http://{HOST}:{PORT}"


def program() -> Path:
    """moto_server of this virtualenv: the version the project pins, not one on PATH."""
    return Path(sys.executable).parent / "moto_server"


def cloud_options(where: Layout | None = None) -> dict:
    """A Cloud row's options for this server (no keys: the credentials file has them)."""
    where = where or layout()
    return {
        "region": REGION,
        "endpoint_url": endpoint(),
        "profile": PROFILE,
        "credentials_file": str(where.credentials),
        "instance_types": list(INSTANCE_TYPES),
    }


def answers(timeout: float = 2) -> bool:
    """moto's server answers at the endpoint (its /moto-api/config is a small JSON)."""
    try:
        with urllib.request.urlopen(endpoint() + "/moto-api/config", timeout=timeout) as reply:
            return "batch" in json.load(reply)
    except (OSError, urllib.error.URLError, ValueError, AttributeError):
        return False


def write_credentials(where: Layout) -> None:
    where.credentials.parent.mkdir(parents=True, exist_ok=True)
    where.credentials.write_text(
        "# Written by `allot dev ec2 up`: dummy keys for moto's server on loopback.\n"
        f"[{PROFILE}]\naws_access_key_id = AKIAALLOTMENTMOTO000\n"
        "aws_secret_access_key = allotment-moto-not-a-secret\n"
    )


def check_port() -> None:
    """Refuse, naming who holds it, when the port is taken by something not ours: moto's
    server would exit at once, or worse, `up` would take another program for it."""
    held = devrun.taken_by(PORT)
    if not held:
        return
    raise Ec2DevError(
        f"The local EC2 cannot start: port {PORT} on {HOST}, needed by moto_server, is taken "
        f"by {held}.\nStop it (an earlier server whose records were lost shows as "
        "python moto_server), then run `allot dev ec2 up` again."
    )


def up(*, fresh: bool = False, log: Log = print) -> str:
    """Start moto's server unless ours runs, seed it; return its endpoint. Idempotent.
    `fresh` first stops it, which forgets everything it held."""
    start(fresh=fresh, log=log)
    return endpoint()


def start(*, fresh: bool = False, log: Log = print) -> bool:
    """`up`, saying whether this call started the server (False: ours was running)."""
    where = layout()
    with devrun.locked(where.lock):
        if fresh:
            _stop(where, log)
        entry = devrun.load(where.pids).get(NAME)
        started = not running(entry)
        if started:
            _launch(where, log)
        elif not answers():
            _wait(where)
        write_credentials(where)
        seed(where)
    return started


def _launch(where: Layout, log: Log) -> None:
    if not program().exists():
        raise Ec2DevError(
            f"{program()} does not exist: install moto's server into this virtualenv "
            "(pip install 'moto[server]'; the project's dev dependencies have it)."
        )
    check_port()
    where.log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    began = time.monotonic()
    entry = devrun.launch(
        [str(program()), "-H", HOST, "-p", str(PORT)], {**env, **MOTO_ENV}, where.root, where.log
    )
    if entry is None:
        raise Ec2DevError(f"moto_server ended as soon as it started:\n{devrun.tail(where.log)}")
    devrun.save(where.pids, {NAME: entry})
    _wait(where)
    log(f"moto's server is up at {endpoint()} in {time.monotonic() - began:.1f} s "
        f"(log {where.log})")  # fmt: skip


def _wait(where: Layout) -> None:
    def exited() -> Ec2DevError | None:
        if running(devrun.load(where.pids).get(NAME)):
            return None
        return Ec2DevError(f"moto_server exited while starting; its log ends:\n"
                           f"{devrun.tail(where.log)}")  # fmt: skip

    def timed_out() -> Ec2DevError:
        return Ec2DevError(f"moto_server did not answer at {endpoint()} within {START_TIMEOUT} s "
                           f"(log {where.log}).")  # fmt: skip

    devrun.wait_until(lambda: answers(timeout=1), START_TIMEOUT, exited, timed_out)


def seed(where: Layout | None = None) -> str:
    """The example site's AMI, registered unless it is there; its id."""
    from allotment.integrations.ec2.driver import CHECKSUM_TAG, Ec2Cloud

    cloud = Ec2Cloud("moto", cloud_options(where or layout()))
    image = cloud.image_named(SEED_IMAGE)
    if image is not None:
        return image["ImageId"]
    image_id = cloud.call(
        "register_image (seed)", "register_image", Name=SEED_IMAGE,
        Description="The example site's burst worker (seeded by allot dev ec2 up)",
        Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
    )["ImageId"]  # fmt: skip
    cloud.call(
        "create_tags (seed)", "create_tags", Resources=[image_id],
        Tags=[{"Key": CHECKSUM_TAG, "Value": SEED_CHECKSUM}],
    )  # fmt: skip
    return image_id


def down(*, log: Log = print) -> bool:
    """Stop the server `up` started, and nothing else; True if it was running."""
    where = layout()
    with devrun.locked(where.lock):
        return _stop(where, log)


def _stop(where: Layout, log: Log) -> bool:
    stopped = devrun.stop(devrun.load(where.pids), STOP_TIMEOUT, log)
    devrun.save(where.pids, {})
    if stopped:
        log("stopped moto's server (its instances and images are gone with it)")
    return bool(stopped)


def status() -> dict:
    where = layout()
    entry = devrun.load(where.pids).get(NAME) or {}
    is_up = running(entry) and answers()
    return {
        "up": is_up,
        "installed": program().exists(),
        "endpoint": endpoint(),
        "components": {NAME: {"pid": entry.get("pid"), "running": running(entry)}},
        "credentials_file": str(where.credentials),
        "profile": PROFILE,
        "instances": _count_instances(where) if is_up else None,
    }


def _count_instances(where: Layout) -> int | None:
    from allotment.integrations.ec2.driver import Ec2Cloud
    from allotment.inventory.engines import EngineError

    try:
        return len(Ec2Cloud("moto", cloud_options(where)).servers())
    except EngineError:
        return None


def env_lines() -> list[str]:
    """Shell exports for the aws CLI and boto3 scripts."""
    where = layout()
    return [
        f"export AWS_SHARED_CREDENTIALS_FILE={where.credentials}",
        f"export AWS_PROFILE={PROFILE}",
        f"export AWS_DEFAULT_REGION={REGION}",
        f"export AWS_ENDPOINT_URL={endpoint()}",
    ]


def point_cloud_at(name: str = CLOUD, where: Layout | None = None) -> bool:
    """The ledger's EC2 cloud `name` uses this server: its options get the endpoint, region,
    profile and credentials file (its instance types and the rest are kept). False when the
    ledger has no such cloud (or is not migrated yet)."""
    from django.db import DatabaseError

    from allotment.burst.models import Cloud, Driver

    try:
        cloud = Cloud.objects.filter(machine__name=name, driver=Driver.EC2).first()
        if cloud is None:
            return False
        here = cloud_options(where)
        cloud.options = {**here, **cloud.options, **{k: here[k] for k in POINTED}}
        cloud.save(update_fields=["options"])
    except DatabaseError:
        return False
    return True
