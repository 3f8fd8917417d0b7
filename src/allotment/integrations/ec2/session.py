"""An EC2 cloud's options, its credentials, its boto3 clients and what its errors mean.

A Cloud row's options say where (region, and endpoint_url for moto on loopback) and which
section ("profile") of which AWS shared credentials file ("credentials_file", else
$AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) holds the keys: the keys themselves
are never in the options, so never in the database, and options that hold one are refused.
The keys are read from that section alone and handed to the client: no AWS_* variable, no
~/.aws/config and no instance role can point Allotment at another account.

Clients have short timeouts and one retry: a hung or throttling API must not hold the
agent's loop, which comes back next tick anyway. They are kept per process (making one
costs about 50 ms) and made again when the credentials file changes.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore import exceptions as boto
from botocore.config import Config
from botocore.configloader import raw_config_parse
from botocore.session import Session

from allotment.inventory.engines import EngineError

OPTIONS = {
    "region": "the AWS region, e.g. us-east-1",
    "endpoint_url": "an EC2 API other than AWS's (moto on loopback)",
    "profile": "the section of the credentials file holding the keys",
    "credentials_file": "an AWS shared credentials file",
    "instance_types": "the instance types offered as flavors",
    "image_ids": "AMIs not owned by the account that servers may boot from",
    "subnet_id": "the subnet servers are booted in",
    "security_group_ids": "their security groups",
    "architecture": "of images copied in (default x86_64)",
    "timeout": "seconds one API request may take (default 20)",
    "image_timeout": "seconds put_image waits for its snapshot (default 600)",
}
# Option names that can only be there to hold a secret.
SECRET_WORDS = ("secret", "access_key", "key_id", "session_token", "password", "token")
KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")

CONNECT_TIMEOUT = 5  # s
READ_TIMEOUT = 20  # s: RunInstances answers in about 1 s on AWS
ATTEMPTS = 2  # one retry, for a throttled or reset request

# AWS error codes that asking again later may cure: the API is loaded or failing, or the
# region lacks capacity for the instance type right now. Any other 4xx is permanent.
TEMPORARY_CODES = frozenset({
    "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
    "RequestThrottled", "SlowDown", "InternalError", "InternalFailure", "ServiceUnavailable",
    "Unavailable", "ServerInternal", "RequestTimeout", "RequestTimeoutException",
    "InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
    "ConcurrentLimitExceeded", "SnapshotCreationPerVolumeRateExceeded",
})  # fmt: skip


@dataclass(frozen=True)
class Ec2Options:
    """A cloud's options, checked: everything a client needs except the keys."""

    cloud: str
    region: str
    profile: str
    credentials_file: str
    endpoint_url: str | None = None
    timeout: float = READ_TIMEOUT

    @classmethod
    def parse(cls, cloud: str, options: dict | None) -> Ec2Options:
        options = dict(options or {})
        where = f"The options of EC2 cloud {cloud}"
        secrets = sorted(k for k in options if any(w in k.lower() for w in SECRET_WORDS))
        if secrets:
            raise config_error(
                f"{where} hold {', '.join(secrets)}: credentials are never kept in the "
                'options. Put them in an AWS shared credentials file and set {"profile": '
                '"<its section>", "credentials_file": "<its path>"}.'
            )
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            known = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
            raise config_error(f"{where} have unknown keys {', '.join(unknown)} (known: {known}).")
        region = options.get("region") or ""
        if not region:
            raise config_error(f'{where} name no region: set {{"region": "us-east-1"}}.')
        profile = options.get("profile") or ""
        if not profile:
            raise config_error(
                f"{where} name no profile: the section of the credentials file to use."
            )
        endpoint = options.get("endpoint_url") or None
        if endpoint:
            _check_endpoint(where, endpoint)
        path = (
            options.get("credentials_file")
            or os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
            or str(Path.home() / ".aws" / "credentials")
        )
        timeout = options.get("timeout", READ_TIMEOUT)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise config_error(f"{where}: timeout {timeout!r} is not a number of seconds.")
        return cls(cloud, region, profile, str(path), endpoint, float(timeout))


def _check_endpoint(where: str, endpoint: str) -> None:
    """Plain http only to this machine: the keys sign requests, and the data would go in
    clear."""
    parts = urlsplit(endpoint)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise config_error(
            f"{where}: endpoint_url {endpoint} must be https, or http on loopback (moto)."
        )


def config_error(message: str) -> EngineError:
    return EngineError(message, permanent=True)


def read_keys(opts: Ec2Options) -> dict[str, str]:
    """The profile's keys from the credentials file, as client arguments."""
    of = f"EC2 cloud {opts.cloud}"
    try:
        sections = raw_config_parse(opts.credentials_file)
    except boto.ConfigNotFound:
        raise config_error(
            f"The credentials file of {of}, {opts.credentials_file}, does not exist."
        ) from None
    except boto.ConfigParseError as e:
        raise config_error(f"The credentials file of {of} cannot be read: {e}") from None
    section = sections.get(opts.profile)
    if section is None:
        raise config_error(
            f"The credentials file of {of}, {opts.credentials_file}, has no profile "
            f"[{opts.profile}] (it has {', '.join(sorted(sections)) or 'none'})."
        )
    keys = {k: section[k] for k in KEY_NAMES if section.get(k)}
    missing = [k for k in KEY_NAMES[:2] if k not in keys]
    if missing:
        raise config_error(
            f"Profile [{opts.profile}] of {opts.credentials_file} ({of}) has no "
            f"{' or '.join(missing)}: only static keys (and a session token) are read."
        )
    return keys


_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def client(opts: Ec2Options, service: str) -> Any:
    """A botocore client for `service` ("ec2", "ebs", "service-quotas") of the cloud, kept
    per process until the credentials file changes. Nothing is sent until its first call."""
    try:
        changed = os.stat(opts.credentials_file).st_mtime_ns
    except OSError:
        changed = 0
    key = (opts, service, changed)
    with _lock:
        found = _clients.get(key)
        if found is None:
            keys = read_keys(opts)
            for stale in [k for k in _clients if k[:2] == key[:2]]:
                del _clients[stale]
            found = _clients[key] = _session().create_client(
                service, region_name=opts.region, endpoint_url=opts.endpoint_url,
                config=Config(
                    connect_timeout=CONNECT_TIMEOUT, read_timeout=opts.timeout,
                    retries={"max_attempts": ATTEMPTS, "mode": "standard"},
                    ignore_configured_endpoint_urls=True, user_agent_extra="allotment",
                ),
                **keys,
            )  # fmt: skip
        return found


def _session() -> Session:
    """A botocore session blind to ~/.aws/config and to AWS_PROFILE (a profile that file
    lacks would fail every client): what it needs comes from the options."""
    session = Session(session_vars={"profile": (None, None, None, None)})  # no AWS_PROFILE
    session.set_config_variable("config_file", os.devnull)
    return session


def engine_error(cloud: str, call: str, error: Exception) -> EngineError:
    """What a failed call means for the burst loop: the cloud down, slow or throttling is
    temporary; a parameter, an image, an instance type or the credentials being wrong is
    permanent. The message names the cloud, the call and AWS's own code and words."""
    where = f"EC2 cloud {cloud}: {call}"
    if isinstance(error, boto.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code") or "?"
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        temporary = code in TEMPORARY_CODES or status >= 500
        return EngineError(f"{where} failed: {code}: {info.get('Message', '')}".rstrip(": "),
                           permanent=not temporary)  # fmt: skip
    if isinstance(error, boto.SSLError):  # a certificate does not mend itself
        return EngineError(f"{where} failed: {error}", permanent=True)
    if isinstance(error, boto.ConnectionError | boto.HTTPClientError):
        return EngineError(f"{where} failed, the API did not answer: {error}")
    if isinstance(error, boto.NoCredentialsError | boto.PartialCredentialsError):
        return EngineError(f"{where} failed: no usable credentials: {error}", permanent=True)
    return EngineError(f"{where} failed: {type(error).__name__}: {error}", permanent=True)


def error_code(error: Exception) -> str:
    """AWS's error code of a ClientError ("" for anything else)."""
    if isinstance(error, boto.ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""
