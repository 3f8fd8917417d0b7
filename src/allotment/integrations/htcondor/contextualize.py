"""Cloud-init user-data that makes a burst VM an execute node of an HTCondor pool.

The VM writes a startd configuration and (re)starts condor: the central manager
(CONDOR_HOST, and COLLECTOR_HOST when the collector listens on another port than 9618),
only a master and a startd (DAEMON_LIST), START = true (the pool's own policy decides
what runs; the VM exists for these jobs), the VM's name as HTCondor's name for the host
(NETWORK_HOSTNAME: its slots are "slot1_N@<vm>", which is how integrations.htcondor.queue
finds a running job's node) and advertised in every slot ad (AllotmentVM in
STARTD_ATTRS: how the queue finds the burst VMs' startds), and one partitionable slot
holding the whole VM, so it runs as many jobs as fit, as the burst decision packs them.

The credential to join the pool is fetched from where the site keeps it, never written
into the user-data (the cloud stores it and shows it to anyone who can read the server),
as the munge key is for Slurm: an IDTOKEN (engine_options "burst": {"token_url": ...},
into /etc/condor/tokens.d) or the pool password ({"pool_password_url": ...}, into
/etc/condor/passwords.d/POOL). Authentication methods and the rest of the security
configuration are the image's.

Options: engine_options "burst": {"central_manager": "host[:port]", "token_url": ...,
"pool_password_url": ...}; the central manager defaults to engine_options "collector".
"""

from __future__ import annotations

import re
import shlex

CONFIG_PATH = "/etc/condor/config.d/90-allotment-burst.conf"
TOKEN_PATH = "/etc/condor/tokens.d/allotment-burst"
POOL_PASSWORD_PATH = "/etc/condor/passwords.d/POOL"
DEFAULT_PORT = "9618"
_HOST_PORT = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>\d+))?")
_VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_URL = re.compile(r"https?://[^\s'\"\\]+")


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


def _fetch(url: str, path: str, option: str) -> str:
    if not _URL.fullmatch(url):
        raise ValueError(f'engine_options "burst" {option} {url!r} is not an http(s) URL')
    folder = path.rsplit("/", 1)[0]
    return (f"install -d -m 0700 {folder} && curl -fsS {shlex.quote(url)} -o {path} "
            f"&& chmod 600 {path}")  # fmt: skip


def startd_config(central_manager: str, vm_name: str) -> list[str]:
    """The startd configuration's lines for the VM `vm_name` of the pool managed at
    `central_manager` ("host" or "host:port")."""
    found = _HOST_PORT.fullmatch(central_manager)
    if not found:
        raise ValueError(f"HTCondor central manager {central_manager!r} is not host[:port]: "
                         'set engine_options "burst" central_manager or "collector"')  # fmt: skip
    if not _VM_NAME.fullmatch(vm_name):
        raise ValueError(f"{vm_name!r} is not a VM name HTCondor can take as a host name")
    lines = [f"CONDOR_HOST = {found['host']}"]
    if found["port"] and found["port"] != DEFAULT_PORT:
        lines.append(f"COLLECTOR_HOST = {central_manager}")
    return [
        *lines,
        "DAEMON_LIST = MASTER, STARTD",
        f"NETWORK_HOSTNAME = {vm_name}",
        "START = true",
        # A retired VM's running jobs finish first (a week at most), as on a Slurm drain:
        # HTCondor's graceful drain otherwise evicts them at once.
        "MAXJOBRETIREMENTTIME = 7 * $(DAY)",
        f'AllotmentVM = "{vm_name}"',
        "STARTD_ATTRS = $(STARTD_ATTRS) AllotmentVM",
        "NUM_SLOTS = 1",
        "NUM_SLOTS_TYPE_1 = 1",
        "SLOT_TYPE_1 = 100%",
        "SLOT_TYPE_1_PARTITIONABLE = true",
    ]


def startd_user_data(batch, vm_name: str) -> str:
    """The cloud-config for burst VM `vm_name` of the HTCondor machine `batch`."""
    options = batch.engine_options or {}
    burst = options.get("burst") or {}
    central_manager = burst.get("central_manager") or options.get("collector", "")
    config = startd_config(central_manager, vm_name)
    runcmd = []
    if burst.get("token_url"):
        runcmd.append(_fetch(burst["token_url"], TOKEN_PATH, "token_url"))
    if burst.get("pool_password_url"):
        runcmd.append(_fetch(burst["pool_password_url"], POOL_PASSWORD_PATH, "pool_password_url"))
    runcmd.append("systemctl enable condor && systemctl restart condor")
    lines = [
        "#cloud-config",
        f"hostname: {vm_name}",
        "write_files:",
        f"  - path: {CONFIG_PATH}",
        "    permissions: '0644'",
        "    content: |",
        f"      # Allotment burst: {vm_name} is an execute node of HTCondor machine {batch.name}",
        *(f"      {line}" for line in config),
        "runcmd:",
        *(f"  - {_quoted(command)}" for command in runcmd),
    ]
    return "\n".join(lines) + "\n"
