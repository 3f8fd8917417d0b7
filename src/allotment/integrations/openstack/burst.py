"""An OpenStack project as a burst cloud (burst.engines.CloudDriver), through openstacksdk.

Nova gives the quota (GET /limits, the project's own view: what a member may see), the
flavors and the servers; Glance the images. A server Allotment boots carries the burst tags
as Nova metadata, so that `boot` of a name asked again finds the server it booted before
(the agent may die between asking and recording) instead of booting a second one.

Options (a Cloud row's): "cloud" and "clouds_yaml" name the clouds.yaml entry (connect.py;
the credentials stay in that file); "networks": "none", "auto" or a list of network ids
(default "auto", "none" with "loopback": the loopback cloud's Neutron is a stub that only
allows servers without ports); "availability_zone"; "disk_format" and "container_format"
of the images put (default raw and bare).

Errors become EngineError naming the cloud and the call: an unreachable cloud, a timeout or
a 5xx is temporary; a 4xx refusal (bad request, a flavor or image it does not have, over
quota) is permanent, but for 408, 409 and 429 which say "not now".
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from allotment.burst.engines import (
    VM_KEY,
    BootRequest,
    EngineError,
    FlavorInfo,
    ImageInfo,
    Quota,
    ServerInfo,
    ServerStatus,
)

from .compute import _http_error as http_error
from .connect import CloudConfigError, CloudRef, connection

# The property holding the catalog's checksum on an image Allotment put ("sha256:<hex>").
CHECKSUM_PROPERTY = "allotment_checksum"
CHUNK = 1024 * 1024  # bytes read from the wire at a time when fetching an image
# A bare hex digest's algorithm, by its length.
DIGEST_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
# Glance statuses of an upload that can still finish (another put of ours is under way).
UPLOADING = {"saving", "uploading", "importing"}
NOVA_STATUS = {
    "BUILD": ServerStatus.BUILDING,
    "ACTIVE": ServerStatus.ACTIVE,
    "ERROR": ServerStatus.ERROR,
    "DELETED": ServerStatus.DELETING,
    "SOFT_DELETED": ServerStatus.DELETING,
}


class OpenStackCloud:
    """One project (and region) of an OpenStack cloud, as its clouds.yaml entry gives it."""

    def __init__(self, name: str, options: dict, *, conn=None):
        self.name = name
        self.options = dict(options or {})
        self._conn = conn

    # -- plumbing --------------------------------------------------------------------------

    @property
    def conn(self):
        if self._conn is None:
            from keystoneauth1 import exceptions as ksa
            from openstack import exceptions as sdk

            try:
                self._conn = connection(CloudRef.from_options(self.options, self.name))
            except CloudConfigError as e:
                raise EngineError(f"OpenStack burst cloud {self.name}: {e}",
                                  permanent=True) from None  # fmt: skip
            except (sdk.ConfigException, ksa.ClientException, OSError, ValueError) as e:
                raise EngineError(
                    f"OpenStack burst cloud {self.name}: its clouds.yaml entry "
                    f"{self.options.get('cloud')!r} cannot be used: {e}",
                    permanent=True,
                ) from None
        return self._conn

    def _calling(self, what: str):
        return cloud_errors(f"OpenStack burst cloud {self.name}: {what}")

    # -- observations ----------------------------------------------------------------------

    def quota(self) -> Quota:
        with self._calling("reading the limits (GET /limits)"):
            from openstack.exceptions import raise_from_response

            # Read raw: openstacksdk's Limits warns of the personality fields at every call.
            answer = self.conn.compute.get("/limits")
            raise_from_response(answer)
            return quota_from_limits(answer.json()["limits"]["absolute"])

    def flavors(self) -> list[FlavorInfo]:
        with self._calling("listing the flavors"):
            found = list(self.conn.compute.flavors(details=True))
        return [FlavorInfo(name=f.name, id=f.id, cores=int(f.vcpus or 0), ram_mb=int(f.ram or 0),
                           disk_gb=int(f.disk or 0)) for f in found]  # fmt: skip

    def images(self) -> list[ImageInfo]:
        with self._calling("listing the images"):
            return [image_info(i) for i in self.conn.image.images()]

    def servers(self) -> list[ServerInfo]:
        with self._calling("listing the servers"):
            return [server_info(s) for s in self.conn.compute.servers(details=True)]

    # -- requests --------------------------------------------------------------------------

    def boot(self, request: BootRequest) -> str:
        with self._calling(f"booting server {request.name}"):
            existing = self._ours(request.name)
            if existing is not None:
                return existing.id
            server = self.conn.compute.create_server(
                name=request.name,
                flavor_id=request.flavor_id,
                image_id=request.image_id,
                user_data=base64.b64encode(request.user_data.encode()).decode("ascii"),
                metadata=dict(request.tags),
                networks=networks(self.options),
                **({"availability_zone": az} if (az := self.options.get("availability_zone"))
                   else {}),
            )  # fmt: skip
            return server.id

    def _ours(self, name: str):
        """The server booted for VM `name` that is not on its way out, if any. Nova's name
        filter is a regular expression, so the name is anchored and escaped."""
        for server in self.conn.compute.servers(details=True, name=f"^{re.escape(name)}$"):
            if (server.metadata or {}).get(VM_KEY) != name:
                continue
            if server_info(server).status != ServerStatus.DELETING:
                return server
        return None

    def delete(self, server_id: str) -> None:
        with self._calling(f"deleting server {server_id}"):
            self.conn.compute.delete_server(server_id, ignore_missing=True)

    def fetch_image(self, image_id: str, dest: Path) -> Path:
        """Streamed to `<dest>/<id>.<disk format>` through a partial file, so a download cut
        short never passes for an image; openstacksdk checks the data against Glance's hash."""
        with self._calling(f"downloading image {image_id}"):
            image = self.conn.image.get_image(image_id)
            dest = Path(dest)
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / f"{image.id}.{image.disk_format or 'img'}"
            partial = target.with_name(target.name + ".part")
            try:
                self.conn.image.download_image(image, stream=True, output=str(partial),
                                               chunk_size=CHUNK)  # fmt: skip
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
        return target

    def put_image(self, name: str, checksum: str, data: Path) -> str:
        """Idempotent by name and checksum: an image of ours with both, active or still
        uploading, is returned; one whose upload died (queued, killed) is replaced."""
        image_api = self.conn.image
        with self._calling(f"uploading image {name}"):
            for image in image_api.images(name=name):
                if (image.properties or {}).get(CHECKSUM_PROPERTY) != checksum:
                    continue
                if image.status == "active" or image.status in UPLOADING:
                    return image.id
                image_api.delete_image(image, ignore_missing=True)
            with open(data, "rb") as stream:
                image = image_api.create_image(
                    name, data=stream, size=os.fstat(stream.fileno()).st_size,
                    disk_format=self.options.get("disk_format") or "raw",
                    container_format=self.options.get("container_format") or "bare",
                    allow_duplicates=True, disable_vendor_agent=False,
                    **{CHECKSUM_PROPERTY: checksum},
                )  # fmt: skip
            return image.id


# -- mapping the cloud's answers (pure) -----------------------------------------------------


def quota_from_limits(absolute: dict) -> Quota:
    """Nova's absolute limits (GET /limits, its own names) as a Quota; -1 is no limit."""

    def limit(key: str) -> int | None:
        value = absolute.get(key)
        return None if value is None or int(value) < 0 else int(value)

    return Quota(
        instances=limit("maxTotalInstances"),
        cores=limit("maxTotalCores"),
        ram_mb=limit("maxTotalRAMSize"),
        used_instances=int(absolute.get("totalInstancesUsed") or 0),
        used_cores=int(absolute.get("totalCoresUsed") or 0),
        used_ram_mb=int(absolute.get("totalRAMUsed") or 0),
    )


def image_info(image) -> ImageInfo:
    """Glance's checksums of the data (md5, and os_hash_value under os_hash_algo) and the
    catalog's checksum an image Allotment put carries in its properties."""
    checksums = {}
    if image.checksum:
        checksums["md5"] = image.checksum
    if image.hash_algo and image.hash_value:
        checksums[image.hash_algo] = image.hash_value
    catalog = (image.properties or {}).get(CHECKSUM_PROPERTY)
    if catalog:
        algorithm, digest = split_checksum(catalog)
        checksums.setdefault(algorithm, digest)
    return ImageInfo(name=image.name or "", id=image.id, status=image.status or "",
                     checksums=checksums, size=int(image.size or 0))  # fmt: skip


def split_checksum(checksum: str) -> tuple[str, str]:
    """("sha256", "<hex>") from "sha256:<hex>"; a bare digest's algorithm by its length."""
    algorithm, sep, digest = checksum.strip().partition(":")
    if sep:
        return algorithm.lower(), digest.lower()
    return DIGEST_LENGTHS.get(len(algorithm), "unknown"), algorithm.lower()


def server_info(server) -> ServerInfo:
    if (server.task_state or "") == "deleting":
        status = ServerStatus.DELETING
    else:
        status = NOVA_STATUS.get(server.status or "", ServerStatus.OTHER)
    fault = ""
    if status == ServerStatus.ERROR:
        fault = ((server.fault or {}).get("message") or "").strip() or "Nova gave no fault"
    flavor = server.flavor or {}  # at microversion 2.47+ the flavor's copy, named
    return ServerInfo(
        id=server.id,
        name=server.name or "",
        status=status,
        tags=dict(server.metadata or {}),
        fault=fault,
        flavor=flavor.get("original_name") or flavor.get("id") or "",
        created=server.created_at or "",
    )


def networks(options: dict):
    """The `networks` of a boot request: "none", "auto", or [{"uuid": id}, ...]."""
    chosen = options.get("networks") or ("none" if options.get("loopback") else "auto")
    if isinstance(chosen, str):
        return chosen
    return [{"uuid": str(n)} for n in chosen]


# -- errors ---------------------------------------------------------------------------------


@contextmanager
def cloud_errors(where: str) -> Iterator[None]:
    """openstacksdk's, keystoneauth's and requests' errors as EngineError, prefixed with
    `where`: unreachable, timed out or 5xx is temporary; a 4xx refusal permanent."""
    import requests
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    try:
        yield
    except EngineError:
        raise
    except sdk.HttpException as e:
        raise http_error(where, e.status_code, e.details or str(e)) from e
    except ksa.HttpError as e:  # the token request (Keystone) answered with an error
        raise http_error(where, e.http_status, e.message or str(e)) from e
    except (ksa.ConnectionError, ksa.DiscoveryFailure, requests.RequestException) as e:
        raise EngineError(f"{where} failed: the cloud cannot be reached: {e}") from e
    except ksa.ClientException as e:  # no endpoint, bad auth settings
        raise EngineError(f"{where} failed: {e}", permanent=True) from e
    except sdk.SDKException as e:  # a download whose data did not match its checksum...
        raise EngineError(f"{where} failed: {e}") from e
    except OSError as e:  # the local file: unreadable, disk full
        raise EngineError(f"{where} failed on this machine: {e}") from e
