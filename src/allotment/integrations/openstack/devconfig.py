"""The loopback cloud's configuration files, as text (pure: devcloud writes them).

Settings follow the measured ones in shared/notes/openstack-on-loopback.md; the comments say
why each non-default one is there. Nova gets four kinds of file because nova-compute must not
see the database settings (it logs "No DB access allowed in nova-compute" tracebacks).
"""

from __future__ import annotations

import re
from pathlib import Path

HOST = "127.0.0.1"
REGION = "RegionOne"
PORTS = {
    "keystone": 5000,
    "placement": 8778,
    "glance-api": 9292,
    "nova-api": 8774,
    "neutron-stub": 9696,
}
KEYSTONE = f"http://{HOST}:{PORTS['keystone']}"
# Service users (password = name) in project "service", and their catalog entries.
SERVICES = [
    # user, service type, service name, endpoint
    ("nova", "compute", "nova", f"http://{HOST}:{PORTS['nova-api']}/v2.1"),
    ("placement", "placement", "placement", f"http://{HOST}:{PORTS['placement']}"),
    ("glance", "image", "glance", f"http://{HOST}:{PORTS['glance-api']}"),
    ("neutron", "network", "neutron", f"http://{HOST}:{PORTS['neutron-stub']}"),
]
ADMIN_PASSWORD = "admin"
DEMO_PASSWORD = "demo"
# What burst boots in: a project of its own ("burst", user burst/burst, role member), so its
# quota is not the admin project's that shift's tests use (two burst clouds, tango and
# tango-burst, each with its own limits); two public flavors small enough for the fake
# hypervisors (8 cores, 8000 MB each; cores are overcommitted 4 to 1); and a private image.
BURST_PROJECT = "burst"
BURST_PASSWORD = "burst"
BURST_QUOTA = {"instances": 6, "cores": 12, "ram": 6144}
# name, vcpus, ram MB, disk GB (a flavor with no disk cannot boot an image but for admins)
BURST_FLAVORS = (("burst.small", 1, 512, 1), ("burst.medium", 2, 1024, 1))
BURST_IMAGE = "burst-worker"
# A compute host name is a file name here and a queue name in RabbitMQ.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _ini(sections: dict[str, dict[str, object]], header: str = "") -> str:
    lines = [f"# {header}"] if header else []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _ksa(user: str) -> dict[str, str]:
    """keystoneauth options for a service user ([keystone_authtoken], [placement], ...)."""
    return {
        "auth_url": f"{KEYSTONE}/",
        "auth_type": "password",
        "project_domain_name": "Default",
        "user_domain_name": "Default",
        "project_name": "service",
        "username": user,
        "password": user,
    }


def _authtoken(user: str) -> dict[str, str]:
    return {"www_authenticate_uri": f"{KEYSTONE}/", **_ksa(user)}


HEADER = "Written by `allot dev openstack up`; regenerated on every start."


def keystone_conf(run: Path, db: str) -> str:
    keys = run / "etc" / "keystone"
    return _ini(
        {
            "DEFAULT": {"log_file": run / "log" / "keystone.log", "use_stderr": "false"},
            "database": {"connection": f"{db}_keystone"},
            # bcrypt's fewest rounds: every password check (each token a service asks for)
            # costs about 0.25 s at the default 12 on these machines, not 2 ms.
            "identity": {"password_hash_rounds": 4},
            "token": {"provider": "fernet"},
            "fernet_tokens": {"key_repository": keys / "fernet-keys"},
            "fernet_receipts": {"key_repository": keys / "fernet-receipts"},
            "credential": {"key_repository": keys / "credential-keys"},
        },
        HEADER,
    )


def placement_conf(run: Path, db: str) -> str:
    return _ini(
        {
            "DEFAULT": {"log_file": run / "log" / "placement.log", "use_stderr": "false"},
            "api": {"auth_strategy": "keystone"},
            "keystone_authtoken": _authtoken("placement"),
            "placement_database": {"connection": f"{db}_placement"},
        },
        HEADER,
    )


def glance_conf(run: Path, db: str) -> str:
    state = run / "state" / "glance"
    return _ini(
        {
            "DEFAULT": {
                "log_file": run / "log" / "glance-api.log",
                "use_stderr": "false",
                "enabled_backends": "local:file",
            },
            "database": {"connection": f"{db}_glance"},
            "glance_store": {"default_backend": "local"},
            "local": {"filesystem_store_datadir": state / "images"},
            "os_glance_staging_store": {"filesystem_store_datadir": state / "staging"},
            "os_glance_tasks_store": {"filesystem_store_datadir": state / "tasks"},
            "paste_deploy": {
                "flavor": "keystone",
                "config_file": run / "etc" / "glance" / "glance-api-paste.ini",
            },
            "keystone_authtoken": _authtoken("glance"),
            "oslo_concurrency": {"lock_path": state / "locks"},
        },
        HEADER,
    )


def nova_conf(run: Path, rabbit: str) -> str:
    """For every Nova service (no database settings: those are in nova_db_conf)."""
    return _ini(
        {
            "DEFAULT": {
                "transport_url": rabbit,
                # Not fake.FakeDriver: its node uuids are random per process, and the second
                # start of a compute refuses ("No local node identity found").
                "compute_driver": "fake.FakeDriverWithoutFakeNodes",
                "state_path": run / "state" / "nova",
                "my_ip": HOST,
                "use_stderr": "false",
                # A dead compute shows "down" after about 17 s instead of about 60 s.
                "report_interval": 5,
                "service_down_time": 20,
                # Else every periodic task (the scheduler's host discovery too) waits a
                # random time of up to 60 s: boots fail with NoValidHost meanwhile.
                "periodic_fuzzy_delay": 0,
            },
            "wsgi": {"api_paste_config": run / "etc" / "nova" / "api-paste.ini"},
            "keystone_authtoken": _authtoken("nova"),
            "placement": {"region_name": REGION, **_ksa("nova")},
            "neutron": {"region_name": REGION, **_ksa("nova")},
            "glance": {"region_name": REGION},
            # The scheduler maps new compute hosts to cell1 by itself, within 2 s.
            "scheduler": {"discover_hosts_in_cells_interval": 2, "workers": 1},
            # Pick at random among the best few hosts: the fake hosts' statistics go stale
            # between updates and the default (1) sends burst after burst to one host.
            "filter_scheduler": {"host_subset_size": 8},
            "conductor": {"workers": 1},
            "oslo_concurrency": {"lock_path": run / "state" / "nova" / "locks"},
            "vnc": {"enabled": "false"},
        },
        HEADER,
    )


def nova_db_conf(db: str) -> str:
    """For nova-api, nova-conductor, nova-scheduler and nova-manage; never nova-compute."""
    return _ini(
        {
            "api_database": {"connection": f"{db}_nova_api"},
            "database": {"connection": f"{db}_nova"},
        },
        HEADER,
    )


def nova_api_conf(run: Path) -> str:
    """nova-api's own log file (else it is named after the launcher script)."""
    return _ini({"DEFAULT": {"log_file": run / "log" / "nova-api.log"}}, HEADER)


def compute_conf(run: Path, host: str) -> str:
    """One nova-compute: its `host` (its hypervisor's name) and its own state_path, which
    holds its node identity file `compute_id`."""
    return _ini({"DEFAULT": {"host": host, "state_path": compute_state(run, host)}}, HEADER)


def compute_state(run: Path, host: str) -> Path:
    return run / "state" / f"compute-{host}"


def burst_image_data() -> bytes:
    """The burst-worker image's 64 KiB, the same on every install, so its checksums are
    known in advance (md5 29f1919c16cbd2f244531310ca294616)."""
    from allotment.burst.local import DEFAULT_IMAGE_DATA

    return DEFAULT_IMAGE_DATA


def clouds_yaml(cloud: str, *, burst: bool = False) -> str:
    """clouds.yaml with the admin entry `cloud`, a member-only `<cloud>-demo`, and with
    `burst` a `<cloud>-burst` for the burst project's member."""

    def entry(name: str, user: str, password: str, project: str) -> str:
        return f"""  {name}:
    auth:
      auth_url: {KEYSTONE}/v3
      username: {user}
      password: {password}
      project_name: {project}
      user_domain_name: Default
      project_domain_name: Default
    region_name: {REGION}
    identity_api_version: 3
    interface: public
"""

    return (
        "# Written by `allot dev openstack up`: the loopback cloud's credentials.\nclouds:\n"
        + entry(cloud, "admin", ADMIN_PASSWORD, "admin")
        + entry(f"{cloud}-demo", "demo", DEMO_PASSWORD, "demo")
        + (entry(f"{cloud}-burst", BURST_PROJECT, BURST_PASSWORD, BURST_PROJECT) if burst else "")
    )
