"""An openstacksdk connection to the cloud a ledger machine names, and what its errors mean.

A machine's engine_options say which entry of which clouds.yaml to use ({"cloud": "tango",
"clouds_yaml": "/path/clouds.yaml"}); without "clouds_yaml", $OS_CLIENT_CONFIG_FILE. The
credentials stay in that file, never in the ledger. No other OS_* variable and no other
clouds.yaml is read, so a developer's environment cannot point Allotment at another cloud.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

API_TIMEOUT = 30  # s per HTTP request: a hung API must not hold the agent's loop


class CloudConfigError(ValueError):
    """The machine's options do not name a usable cloud; the message says what is missing."""


@dataclass(frozen=True)
class CloudRef:
    cloud: str
    clouds_yaml: str

    @classmethod
    def from_options(cls, options: dict | None, machine: str = "") -> CloudRef:
        options = options or {}
        of = f"machine {machine}" if machine else "the machine"
        cloud = options.get("cloud") or ""
        if not cloud:
            raise CloudConfigError(
                f'The engine options of {of} name no cloud: set {{"cloud": "<clouds.yaml '
                'entry>", "clouds_yaml": "<path>"}.'
            )
        path = options.get("clouds_yaml") or os.environ.get("OS_CLIENT_CONFIG_FILE", "")
        if not path:
            raise CloudConfigError(
                f"The engine options of {of} give no clouds_yaml and OS_CLIENT_CONFIG_FILE is "
                f"not set: nowhere to find the credentials of cloud {cloud}."
            )
        if not os.path.isfile(path):
            raise CloudConfigError(f"The clouds.yaml of {of}, {path}, does not exist.")
        return cls(cloud=cloud, clouds_yaml=path)


_connections: dict[CloudRef, object] = {}
_lock = threading.Lock()


def connection(ref: CloudRef):
    """A connection to `ref`, one per cloud and process: each new one costs a token request,
    and keystoneauth renews the token of a kept one by itself. Nothing is sent until the first
    call, so a cloud that is down fails there, not here."""
    import openstack
    from openstack.config import OpenStackConfig

    with _lock:
        conn = _connections.get(ref)
        if conn is None:
            config = OpenStackConfig(
                config_files=[ref.clouds_yaml], vendor_files=[], secure_files=[],
                load_envvars=False,
            )  # fmt: skip
            region = config.get_one(cloud=ref.cloud, api_timeout=API_TIMEOUT)
            conn = _connections[ref] = openstack.connection.Connection(config=region)
        return conn


def forget(ref: CloudRef) -> None:
    """Drop the kept connection (after the cloud was re-initialised: its tokens are void)."""
    with _lock:
        _connections.pop(ref, None)
