"""OpenStack Ironic as the shift's provisioner, through openstacksdk's baremetal proxy.

Every request starts something and returns (inventory.engines says why): deploy and undeploy
ask Ironic for the transition and never wait for it; statuses lists every node in one call,
not one GET per node. Only enroll waits, with its own tight poll (the SDK's waiters poll
every 2 s), because bringing a new node to `available` is a few fast steps.

Options (a service's or machine's engine options):
  endpoint       Ironic's URL, without authentication (standalone: `auth_strategy = noauth`)
  cloud          or a clouds.yaml entry, for a site's Keystone-authenticated Ironic
  driver         the hardware type for new nodes (default "fake-hardware")
  timeout        seconds for one HTTP request (default 30)
  enroll_timeout seconds enroll may take to bring a node to available (default 60)
  concurrency    at most this many requests at once to one Ironic (default 8): cheroot, its
                 HTTP server, resets connections beyond about 16 concurrent clients
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import openstack
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from allotment.inventory.engines import (
    EngineError,
    ImageSpec,
    NodeSpec,
    Provision,
    ProvisionStatus,
)

T = TypeVar("T")

# Ironic's provision states (ironic/common/states.py) as the shift sees them.
PROVISION = {
    "available": Provision.AVAILABLE,
    "deploying": Provision.DEPLOYING,
    "wait call-back": Provision.DEPLOYING,
    "deploy hold": Provision.DEPLOYING,
    "deploy complete": Provision.DEPLOYING,
    "rebuild": Provision.DEPLOYING,
    "active": Provision.ACTIVE,
    "deploy failed": Provision.FAILED,
    "clean failed": Provision.FAILED,
    "error": Provision.FAILED,  # an undeploy (tear down) failed
    "deleting": Provision.UNDEPLOYING,
    "deleted": Provision.UNDEPLOYING,
    "cleaning": Provision.UNDEPLOYING,
    "clean wait": Provision.UNDEPLOYING,
    "clean hold": Provision.UNDEPLOYING,
}
# Every other state (enroll, verifying, manageable, inspecting, adopting, rescue, servicing,
# ...) is OTHER: enrolled but not for the shift to deploy or undeploy.

# States that hold an image: enroll leaves such a node as it is.
DEPLOYED = {"active", "deploying", "wait call-back", "deploy hold", "deploy complete",
            "deploy failed", "error", "rebuild", "rescue", "rescuing", "rescue wait",
            "rescue failed", "unrescuing", "unrescue failed", "servicing", "service wait",
            "service hold", "service failed"}  # fmt: skip
# States enroll cannot move on from: an operator must look at the node.
ENROLL_FAILED = {"clean failed", "inspect failed", "adopt failed"}
UNDEPLOYED = {"available", "deleting", "deleted", "cleaning", "clean wait"}
# Where an action leaves a node (on its way or arrived), to know a refused retry was done.
LEADS_TO = {
    "deleted": UNDEPLOYED,
    "manage": {"verifying", "manageable"},
    "provide": {"cleaning", "clean wait", "available"},
}

FIELDS = ["uuid", "name", "provision_state", "target_provision_state", "last_error",
          "power_state", "instance_info", "maintenance", "maintenance_reason"]  # fmt: skip
BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8)  # s between retries of a reset connection or a locked node

# Per Ironic, shared by every provisioner for it (the agent may make one per tick): one
# limit on concurrent requests, and one connection (its first request discovers the API).
_gates: dict[str, threading.BoundedSemaphore] = {}
_connections: dict[tuple, openstack.connection.Connection] = {}
_shared_lock = threading.Lock()


def _gate(key: str, size: int) -> threading.BoundedSemaphore:
    with _shared_lock:
        return _gates.setdefault(key, threading.BoundedSemaphore(size))


def instance_info(image: ImageSpec) -> dict[str, str]:
    """What Ironic needs to deploy `image`: the source, and its checksum in the field Ironic
    reads for it ("sha256:…" → image_os_hash_algo/value; a bare value, an md5 or a checksum
    file's URL → image_checksum)."""
    info = {"image_source": image.source_url}
    algo, sep, value = image.checksum.partition(":")
    if sep and algo.isalnum() and not value.startswith("//"):
        info["image_os_hash_algo"] = algo.lower()
        info["image_os_hash_value"] = value
    elif image.checksum:
        info["image_checksum"] = image.checksum
    return info


def status_of(node: Any | None) -> ProvisionStatus:
    """The shift's view of a node as Ironic lists it; None is a node Ironic does not know."""
    if node is None:
        return ProvisionStatus(Provision.MISSING)
    state = PROVISION.get(node.provision_state or "", Provision.OTHER)
    error = node.last_error or ""
    if not error and node.is_maintenance:
        error = f"in maintenance: {node.maintenance_reason or 'no reason given'}"
    if state == Provision.OTHER and not error:
        error = f"Ironic provision state {node.provision_state!r}"
    shown = state in (Provision.DEPLOYING, Provision.ACTIVE, Provision.FAILED)
    image = (node.instance_info or {}).get("image_source", "") if shown else ""
    return ProvisionStatus(state, image=image, error=error, power=node.power_state or "")


# Up to this many nodes are asked about one GET each; more, in one listing. The agent asks
# about one node per step; a listing of every node Ironic has cost 112 ms at 101 nodes.
FEW = 4


class IronicProvisioner:
    """inventory.engines.Provisioner for one Ironic."""

    def __init__(self, options: dict | None = None):
        self.options = dict(options or {})
        self.driver = self.options.get("driver", "fake-hardware")
        self.timeout = float(self.options.get("timeout", 30))
        self.enroll_timeout = float(self.options.get("enroll_timeout", 60))
        self.poll = 0.1
        self.where = self.options.get("endpoint") or f"cloud {self.options.get('cloud')}"
        self._gate = _gate(self.where, int(self.options.get("concurrency", 8)))
        self._conn: openstack.connection.Connection | None = None

    # -- the protocol ----------------------------------------------------------------------

    def enroll(self, node: NodeSpec) -> str:
        found = self._find(node.name)
        if found is None:
            found = self._create(node)
        uuid = found.id
        self._add_ports(uuid, node)
        self._bring_to_available(uuid, node.name)
        return uuid

    def statuses(self, idents: Iterable[str]) -> dict[str, ProvisionStatus]:
        wanted = list(dict.fromkeys(idents))
        if not wanted:
            return {}
        if len(wanted) <= FEW:  # a GET each costs ~10 ms; a listing grows with Ironic's nodes
            return {ident: status_of(self._find(ident)) for ident in wanted}
        listed = self.request(
            f"list the nodes ({len(wanted)} asked)", "", lambda bm: list(bm.nodes(fields=FIELDS))
        )
        known: dict[str, Any] = {}
        for n in listed:
            known[n.id] = n
            if n.name:
                known.setdefault(n.name, n)
        return {ident: status_of(known.get(ident)) for ident in wanted}

    def deploy(self, ident: str, image: ImageSpec) -> None:
        node = self._get(ident)
        state = node.provision_state
        deployed = (node.instance_info or {}).get("image_source")
        if PROVISION.get(state) in (Provision.DEPLOYING, Provision.ACTIVE) and (
            deployed == image.source_url
        ):
            return
        if PROVISION.get(state) == Provision.UNDEPLOYING:
            raise EngineError(
                f"Ironic ({self.where}): node {ident} is still {state!r} (undeploying); "
                "deploy it once it is available"
            )
        if PROVISION.get(state) == Provision.DEPLOYING:  # its image is fixed until it ends
            raise EngineError(
                f"Ironic ({self.where}): node {ident} is deploying {deployed}; deploy "
                f"{image.source_url} once it ends"
            )
        # Ironic runs a deploy on an available or failed node, a rebuild on a deployed one.
        action = "rebuild" if state in ("active", "error") else "active"
        info = instance_info(image)
        self.request(
            "set instance_info of", ident, lambda bm: bm.update_node(ident, instance_info=info)
        )
        self._provision(ident, action, image.source_url)

    def undeploy(self, ident: str) -> None:
        node = self._get(ident)
        state = node.provision_state
        if state in UNDEPLOYED:
            return
        if state == "clean failed":
            raise EngineError(
                f"Ironic ({self.where}): node {ident} failed cleaning "
                f"({node.last_error or 'no error recorded'}); an operator must look at it "
                "(baremetal node maintenance unset, manage, provide)",
                permanent=True,
            )
        if state in ("deploying", "deploy complete", "rebuild"):
            raise EngineError(
                f"Ironic ({self.where}): node {ident} is {state!r}; undeploy it once the "
                "deploy ends"
            )
        self._provision(ident, "deleted")

    # -- steps -----------------------------------------------------------------------------

    def _create(self, node: NodeSpec) -> Any:
        fields: dict[str, Any] = {"name": node.name, "driver": self.driver}
        properties = {"cpus": node.cpus, "memory_mb": node.memory_mb}
        if any(properties.values()):
            fields["properties"] = {k: v for k, v in properties.items() if v}
        address_key = {"ipmi": "ipmi_address", "redfish": "redfish_address"}.get(self.driver)
        if address_key and node.bmc_address:
            fields["driver_info"] = {address_key: node.bmc_address}
        try:
            return self.request("create", node.name, lambda bm: bm.create_node(**fields))
        except EngineError:
            # Created meanwhile by someone else (a name is unique): theirs is ours.
            again = self._find(node.name)
            if again is None:
                raise
            return again

    def _add_ports(self, uuid: str, node: NodeSpec) -> None:
        if not node.macs:
            return
        have = {
            (p.address or "").lower()
            for p in self.request(
                "list ports of", node.name,
                lambda bm: list(bm.ports(node_uuid=uuid, fields=["address"])),
            )
        }  # fmt: skip
        for mac in node.macs:
            if mac.lower() not in have:
                self.request(
                    f"create port {mac} for", node.name,
                    lambda bm, mac=mac: bm.create_port(node_uuid=uuid, address=mac),
                )  # fmt: skip

    def _bring_to_available(self, uuid: str, name: str) -> None:
        """enroll → manage → manageable → provide → available, each asked once, polled every
        0.1 s, bounded by enroll_timeout."""
        deadline = time.monotonic() + self.enroll_timeout
        asked: set[str] = set()
        while True:
            node = self._get(uuid, name=name)
            state, busy = node.provision_state, bool(node.target_provision_state)
            if state == "available" or state in DEPLOYED:
                return
            if state in ENROLL_FAILED:
                raise self._stuck(name, state, node.last_error, permanent=True)
            for from_state, action in (("enroll", "manage"), ("manageable", "provide")):
                if state != from_state or busy:
                    continue
                if action in asked:  # it came back: the step failed (a BMC not answering)
                    raise self._stuck(name, state, node.last_error, permanent=True, after=action)
                self._provision(uuid, action, name=name)
                asked.add(action)
            if time.monotonic() > deadline:
                raise self._stuck(name, state, node.last_error, permanent=False)
            time.sleep(self.poll)

    def _stuck(
        self, name: str, state: str, error: str | None, *, permanent: bool, after: str = ""
    ) -> EngineError:
        why = f"went back to {state!r} after {after!r}" if after else f"is {state!r}"
        if not permanent:
            why += f" after {self.enroll_timeout:.0f} s"
        return EngineError(
            f"Ironic ({self.where}) could not bring node {name} to available: it {why}"
            + (f": {error}" if error else ""),
            permanent=permanent,
        )

    def _provision(self, ident: str, action: str, image: str = "", *, name: str = "") -> None:
        """Ask for a provision action without waiting. Refused because the node is already
        where the action leads (a retry of a request whose answer was lost), it is done."""
        try:
            self.request(
                f"provision {action!r} of", name or ident,
                lambda bm: bm.set_node_provision_state(ident, action, wait=False),
            )  # fmt: skip
        except EngineError:
            node = self._get(ident, name=name)
            state = node.provision_state
            if action in ("active", "rebuild"):
                done = PROVISION.get(state) in (Provision.DEPLOYING, Provision.ACTIVE) and (
                    (node.instance_info or {}).get("image_source") == image
                )
            else:
                done = state in LEADS_TO.get(action, ())
            if not done:
                raise

    def _get(self, ident: str, *, name: str = "") -> Any:
        return self.request("get", name or ident, lambda bm: bm.get_node(ident, fields=FIELDS))

    def _find(self, name: str) -> Any | None:
        def get_or_none(bm: Any) -> Any | None:
            try:
                return bm.get_node(name, fields=FIELDS)
            except sdk.NotFoundException:
                return None

        return self.request("find", name, get_or_none)

    # -- the connection and errors ---------------------------------------------------------

    @property
    def baremetal(self) -> Any:
        """openstacksdk's baremetal proxy (its first use negotiates the API version)."""
        if self._conn is None:
            key = (self.options.get("endpoint"), self.options.get("cloud"), self.timeout)
            with _shared_lock:
                if key not in _connections:
                    _connections[key] = self._connect()
                self._conn = _connections[key]
        return self._conn.baremetal

    def _connect(self) -> openstack.connection.Connection:
        try:
            with warnings.catch_warnings():
                # openstacksdk 4.x warns of InfluxDB whether it is configured or not.
                warnings.filterwarnings("ignore", message="Support for InfluxDB")
                if self.options.get("endpoint"):
                    return openstack.connect(
                        auth_type="none", baremetal_endpoint_override=self.options["endpoint"],
                        load_envvars=False, load_yaml_config=False, api_timeout=self.timeout,
                    )  # fmt: skip
                if self.options.get("cloud"):
                    return openstack.connect(cloud=self.options["cloud"], api_timeout=self.timeout)
        except sdk.SDKException as e:
            raise EngineError(f"Ironic ({self.where}): cannot connect: {e}", permanent=True) from e
        raise EngineError(
            "Ironic: the provisioner's options name neither an 'endpoint' nor a 'cloud' "
            f"(got {sorted(self.options)})",
            permanent=True,
        )

    def request(self, what: str, node: str, call: Callable[[Any], T]) -> T:
        """`call(baremetal proxy)` as one request about `node`, under the per-Ironic
        concurrency limit; a connection reset or refused and a locked node are retried a
        few times, quickly (BACKOFF). Failures become EngineError naming Ironic, the node
        and `what` was asked."""
        for attempt, pause in enumerate((*BACKOFF, None)):
            try:
                with self._gate:
                    return call(self.baremetal)
            except (ksa.ConnectFailure, sdk.ConflictException) as e:
                locked = isinstance(e, sdk.ConflictException) and "locked" in _detail(e)
                if pause is None or not (locked or isinstance(e, ksa.ConnectFailure)):
                    raise self._error(what, node, e, attempt + 1) from e
                time.sleep(pause)
            except (sdk.SDKException, ksa.ClientException) as e:
                raise self._error(what, node, e, attempt + 1) from e
        raise AssertionError("unreachable")

    def _error(self, what: str, node: str, e: Exception, tries: int) -> EngineError:
        status = getattr(e, "status_code", None)
        if isinstance(e, ksa.ClientException):  # refused, reset, timed out, no API there
            kind, permanent = "could not reach Ironic", False
        elif isinstance(e, sdk.NotFoundException):
            kind, permanent = "Ironic does not know it", True
        elif isinstance(e, sdk.HttpException) and status is not None:
            # 409: locked by a conductor, or a name or MAC taken; 408, 429, 5xx: try later.
            permanent = 400 <= status < 500 and status not in (408, 409, 429)
            kind = f"HTTP {status}"
        else:
            kind, permanent = type(e).__name__, True
        attempts = f" (after {tries} attempts)" if tries > 1 else ""
        return EngineError(
            f"Ironic ({self.where}): {what}{f' node {node}' if node else ''} failed{attempts}: "
            f"{kind}: {_detail(e)}",
            permanent=permanent,
        )


def _detail(e: Exception) -> str:
    return str(getattr(e, "details", None) or e)
