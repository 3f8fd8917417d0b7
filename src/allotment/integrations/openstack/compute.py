"""Nova compute hosts as a service a node can be in (engines.ServicePort), through openstacksdk.

A host is a nova-compute service's `host` name, which the inventory names the node. Draining
disables that compute service with the shift's reason; evacuating live-migrates its servers
(the scheduler picks where), cold-migrates those live migration cannot move and confirms the
finished resizes; stopping deletes the compute service record once nova-compute has stopped,
which also removes its hypervisor and its resource provider in Placement, so a node that joins
again registers afresh. Every call starts something and returns: the shift's loop observes
the outcome on its next tick.

On loopback (engine_options["loopback"]) "the node's image boots" is played by starting a
nova-compute for the host in devcloud, and undeploying by stopping it and wiping its state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from allotment.inventory.engines import (
    REASON_PREFIX,
    EngineError,
    Evacuation,
    HostState,
    Workload,
)

from .connect import CloudConfigError, CloudRef, connection

# Nova's column for a disable reason is 255 characters.
REASON_LENGTH = 255
# A migration of a host's server that failed is not asked again for this long: the server is
# reported refused with Nova's reason meanwhile (asking at every tick would only fail again).
RETRY_FAILED_AFTER = timedelta(minutes=5)
# Server statuses Nova is already moving: not asked again.
MOVING = {"MIGRATING", "RESIZE", "REVERT_RESIZE"}
FAILED_MIGRATION = {"error", "failed", "cancelled"}
# HTTP statuses that say "not now" rather than "never": a conflict with the server's or the
# service's current state, a timeout, a rate limit.
TEMPORARY_HTTP = {408, 409, 429}


class NovaHosts:
    """The compute hosts of the Nova cloud a ledger machine (engine "openstack") names."""

    def __init__(self, machine, *, conn=None):
        self.machine = machine
        options = machine.engine_options or {}
        self.loopback = bool(options.get("loopback"))
        self.cloud_name = options.get("cloud") or str(machine)
        self._options = options
        self._conn = conn

    # -- plumbing --------------------------------------------------------------------------

    @property
    def conn(self):
        if self._conn is None:
            from keystoneauth1 import exceptions as ksa
            from openstack import exceptions as sdk

            try:
                ref = CloudRef.from_options(self._options, str(self.machine))
                self._conn = connection(ref)
            except CloudConfigError as e:
                raise EngineError(f"OpenStack: {e}", permanent=True) from None
            except (sdk.ConfigException, ksa.ClientException, OSError, ValueError) as e:
                raise EngineError(
                    f"OpenStack cloud {self.cloud_name}: its clouds.yaml entry cannot be used: {e}",
                    permanent=True,
                ) from None
        return self._conn

    @contextmanager
    def _calling(self, what: str, host: str) -> Iterator[None]:
        """Turn openstacksdk's and keystoneauth's errors into EngineError naming the cloud,
        the host and the call: unreachable or 5xx is temporary, a 4xx refusal permanent."""
        from keystoneauth1 import exceptions as ksa
        from openstack import exceptions as sdk

        where = f"OpenStack cloud {self.cloud_name}: {what} for host {host}"
        try:
            yield
        except EngineError:
            raise
        except sdk.HttpException as e:
            raise _http_error(where, e.status_code, e.details or str(e)) from e
        except ksa.HttpError as e:  # the token request (Keystone) answered with an error
            raise _http_error(where, e.http_status, e.message or str(e)) from e
        except (ksa.ConnectionError, ksa.DiscoveryFailure) as e:
            raise EngineError(f"{where} failed: the cloud cannot be reached: {e}") from e
        except ksa.ClientException as e:  # no endpoint, bad auth settings
            raise EngineError(f"{where} failed: {e}", permanent=True) from e
        except sdk.SDKException as e:
            raise EngineError(f"{where} failed: {e}") from e

    def _service(self, host: str):
        """The nova-compute service of `host`, or None."""
        found = self.conn.compute.services(binary="nova-compute", host=host)
        return next((s for s in found if s.host == host), None)

    # -- observations ----------------------------------------------------------------------

    def host(self, name: str) -> HostState:
        with self._calling("reading the nova-compute service", name):
            service = self._service(name)
        if service is None:
            return HostState(known=False, detail="no nova-compute service")
        drained = service.status == "disabled"
        detail = f"nova-compute {service.state}, {service.status}"
        if service.is_forced_down:
            detail += ", forced down"
        return HostState(
            known=True,
            up=service.state == "up",
            drained=drained,
            reason=(service.disabled_reason or "") if drained else "",
            detail=detail,
        )

    def workload(self, name: str) -> list[Workload]:
        with self._calling("listing the servers", name):
            servers, resized = self._servers(name)
        found = []
        for server in servers:
            detail = f"task {server.task_state}" if server.task_state else ""
            if server.id in resized:
                detail = f"resized to {server.compute_host}, awaiting confirmation"
            found.append(Workload(id=server.id, name=server.name or "", state=server.status,
                                  detail=detail))  # fmt: skip
        return found

    def _servers(self, host: str) -> tuple[list, set[str]]:
        """Servers on `host` (all projects, migrating away ones too), and those a cold migration
        moved off it that wait for their resize to be confirmed: Nova keeps their resources on
        the source until then, so they are still the host's work."""
        from openstack import exceptions as sdk

        compute = self.conn.compute
        servers = list(compute.servers(details=True, all_projects=True, compute_host=host))
        have = {s.id for s in servers}
        resized = set()
        for migration in compute.migrations(source_compute=host, status="finished"):
            if migration.server_id in have:
                continue
            try:
                server = compute.get_server(migration.server_id)
            except sdk.NotFoundException:  # deleted since
                continue
            if server.status == "VERIFY_RESIZE":
                servers.append(server)
                resized.add(server.id)
                have.add(server.id)
        return servers, resized

    def health(self, name: str) -> str:
        with self._calling("checking the compute host", name):
            return self._health(name)

    def _health(self, name: str) -> str:
        cloud = f"OpenStack cloud {self.cloud_name}"
        service = self._service(name)
        if service is None:
            return f"{cloud} has no nova-compute service for host {name} (not registered yet)."
        if service.state != "up":
            return f"nova-compute on {name} is down in {cloud} (last report {service.updated_at})."
        if service.status == "disabled":
            why = service.disabled_reason or "no reason given"
            return f"nova-compute on {name} is disabled in {cloud}: {why}."
        hypervisor = self._hypervisor(name)
        if hypervisor is None:
            return f"{cloud} has no hypervisor for host {name} yet."
        if hypervisor.state != "up" or hypervisor.status != "enabled":
            return (f"The hypervisor {hypervisor.name} of {name} is {hypervisor.state}, "
                    f"{hypervisor.status} in {cloud}.")  # fmt: skip
        from openstack import exceptions as sdk

        try:  # the hypervisor's id (a uuid since 2.53) is its resource provider's
            inventories = list(self.conn.placement.resource_provider_inventories(hypervisor.id))
        except sdk.NotFoundException:
            return f"The hypervisor of {name} has no resource provider in {cloud}'s Placement."
        vcpus = next((i for i in inventories if i.resource_class == "VCPU"), None)
        if vcpus is None or not vcpus.total:
            return f"The hypervisor of {name} offers no VCPU in {cloud}'s Placement."
        return ""

    def _hypervisor(self, name: str):
        from openstack import exceptions as sdk

        try:  # a pattern: also a libvirt host's FQDN; matched to the service host below
            listed = self.conn.compute.hypervisors(details=True, hypervisor_hostname_pattern=name)
            found = list(listed)
        except sdk.NotFoundException:  # Nova's answer when nothing matches
            return None
        for hypervisor in found:
            owner = (hypervisor.service_details or {}).get("host")
            if owner == name or (owner is None and hypervisor.name == name):
                return hypervisor
        return None

    # -- requests --------------------------------------------------------------------------

    def drain(self, name: str, reason: str) -> None:
        with self._calling("disabling the nova-compute service", name):
            service = self._service(name)
            if service is None:
                raise EngineError(
                    f"OpenStack cloud {self.cloud_name} has no nova-compute service for host "
                    f"{name}: there is nothing to disable.",
                    permanent=True,
                )
            if service.status == "disabled":  # by anyone: their reason stays
                return
            self.conn.compute.disable_service(service, disabled_reason=reason[:REASON_LENGTH])

    def resume(self, name: str) -> None:
        with self._calling("enabling the nova-compute service", name):
            service = self._service(name)
            if service is None or service.status != "disabled":
                return  # nothing to enable (a new compute service starts enabled)
            if not (service.disabled_reason or "").startswith(REASON_PREFIX):
                return  # disabled by someone else: stays so, and health() says why
            self.conn.compute.enable_service(service)

    def evacuate(self, name: str, *, force: bool) -> Evacuation:
        """Ask Nova to move each server off the host. `force` changes nothing: Nova's servers
        are never deleted to empty a host."""
        outcome = Evacuation()
        with self._calling("evacuating", name):
            servers, _ = self._servers(name)
            failed = self._failed_migrations(name) if servers else {}
            for server in servers:
                self._evacuate_one(server, failed.get(server.id), outcome)
        return outcome

    def _failed_migrations(self, host: str) -> dict[str, object]:
        """Each server's latest migration off `host` in the last RETRY_FAILED_AFTER, when it
        failed."""
        since = (datetime.now(UTC) - RETRY_FAILED_AFTER).strftime("%Y-%m-%dT%H:%M:%SZ")
        latest: dict[str, object] = {}
        for migration in self.conn.compute.migrations(source_compute=host, changes_since=since):
            known = latest.get(migration.server_id)
            if known is None or int(migration.id) > int(known.id):
                latest[migration.server_id] = migration
        return {sid: m for sid, m in latest.items() if m.status in FAILED_MIGRATION}

    def _evacuate_one(self, server, failed, outcome: Evacuation) -> None:
        from openstack import exceptions as sdk

        compute = self.conn.compute
        if server.status == "VERIFY_RESIZE":
            try:
                compute.confirm_server_resize(server)
                outcome.started.append(server.id)
            except sdk.HttpException as e:
                _refuse(outcome, server, e, "confirming its resize")
            return
        if server.task_state or server.status in MOVING:
            return  # already on the move (or busy): not asked again
        if failed is not None and failed.migration_type != "live-migration":
            outcome.refused[server.id] = (
                f"its cold migration off the host failed: {self._action_error(server)}; "
                f"asked again after {RETRY_FAILED_AFTER.seconds // 60} min"
            )
            return
        live_refused = ""
        if failed is not None:  # its live migration failed: try cold
            live_refused = f"live migration failed: {self._action_error(server)}"
        elif server.status != "SHUTOFF":  # Nova live-migrates ACTIVE and PAUSED servers
            try:
                compute.live_migrate_server(server, host=None, block_migration="auto")
                outcome.started.append(server.id)
                return
            except sdk.HttpException as e:
                if e.status_code in (500, 502, 503, 504):
                    raise
                live_refused = f"live migration refused: {_said(e)}"
        try:
            compute.migrate_server(server)
            outcome.started.append(server.id)
        except sdk.HttpException as e:
            if e.status_code in (500, 502, 503, 504):
                raise
            outcome.refused[server.id] = "; ".join(
                x for x in (live_refused, f"cold migration refused: {_said(e)}") if x
            )

    def _action_error(self, server) -> str:
        """Nova's words for why the server's latest migration failed (its instance action's
        event details, at compute API 2.84+), else the action's message."""
        actions = [a for a in self.conn.compute.server_actions(server)
                   if a.action in ("migrate", "live-migration", "resize")]  # fmt: skip
        if not actions:
            return "no reason recorded"
        latest = max(actions, key=lambda a: a.start_time or "")
        action = self.conn.compute.get_server_action(latest.request_id, server)
        details = [e.details for e in action.events or [] if getattr(e, "details", None)]
        return " ".join(d.strip() for d in details) or action.message or "no reason recorded"

    def start(self, name: str) -> None:
        if not self.loopback:
            return  # the deployed image starts nova-compute itself
        from . import devcloud

        try:
            devcloud.start_compute(name)
        except devcloud.CloudError as e:
            raise EngineError(f"OpenStack cloud {self.cloud_name} (loopback): {e}") from e

    def stop(self, name: str) -> None:
        """Delete the compute service record once nova-compute has stopped (Nova refuses while
        the host still has servers); on loopback stop it first. Without waiting: until the
        record is gone host() still knows the host, and the next call finishes the job."""
        from . import devcloud

        if self.loopback:
            try:
                devcloud.stop_compute(name, wait=False)
            except devcloud.CloudError as e:
                raise EngineError(f"OpenStack cloud {self.cloud_name} (loopback): {e}") from e
            if devcloud.compute_running(name):
                return
        with self._calling("deleting the nova-compute service", name):
            service = self._service(name)
            # A live nova-compute would report into a deleted record: wait until Nova sees it
            # down (service_down_time after it stopped). On loopback we saw it stop.
            if service is not None and (self.loopback or service.state == "down"):
                self.conn.compute.delete_service(service, ignore_missing=True)
                service = None
        if service is None and self.loopback:
            devcloud.forget_compute(name)


def _said(e) -> str:
    return (e.details or str(e)).strip()


def _refuse(outcome: Evacuation, server, e, doing: str) -> None:
    if e.status_code is not None and e.status_code >= 500:
        raise e
    outcome.refused[server.id] = f"{doing} was refused: {_said(e)}"


def _http_error(where: str, status: int | None, said: str) -> EngineError:
    permanent = status is not None and 400 <= status < 500 and status not in TEMPORARY_HTTP
    verb = "was refused" if permanent else "failed"
    return EngineError(f"{where} {verb} (HTTP {status}): {said.strip()}", permanent=permanent)
