"""Amazon EC2 as a burst cloud: one account and region, through boto3 (botocore clients).

Options (a Cloud row's; session.py checks them and reads the credentials):
  region, profile, credentials_file, endpoint_url   where, and whose keys (session.py)
  instance_types      the flavors offered, e.g. ["t3.small", "c6i.xlarge"]: EC2 has hundreds
  image_ids           AMIs of other owners servers may boot from (the account's own always)
  subnet_id, security_group_ids    where servers are booted (the default VPC otherwise)
  architecture        of the images put_image registers (default x86_64)
  timeout, image_timeout

What maps to what:
- quota: the instance limit is the account attribute "max-instances"; the vCPU limit is the
  Service Quotas value L-1216C47A (running on-demand standard instances) where that API
  answers, else None (moto has no EC2 quotas; an account may not be allowed to read them).
  EC2 has no memory limit. Used: every pending or running instance, ours or not, with
  vCPUs and memory of its instance type (instances of non-standard families are counted
  too, so the figure errs on the safe side).
- servers: every instance not terminated; pending → building, running → active,
  shutting-down → deleting, stopping and stopped → other, except a stop EC2 itself caused
  (a "Server.*" state reason, e.g. no capacity to start it again) → error, with its words.
- boot: idempotent twice over. An instance tagged allotment-vm=<name> that is alive is
  returned; else RunInstances with a ClientToken made from the whole request, so a retry
  after a lost answer (before the new instance shows in listings) is EC2's own no-op. EC2
  remembers a token for at least 24 h after its instance ended, and answers it with that
  dead instance: a name booted again (a Slurm node name comes back) then follows the chain
  of tokens, each made from the previous one and the instance it returned, to the first
  unused one; every step is the same from every retry.
- images: the account's own AMIs and those of "image_ids"; state available → "active".
  The catalog's checksum is the tag allotment-checksum ("sha256:<hex>" or a bare digest).

Images are copied in, never out: EC2 cannot hand out an AMI's bytes, so fetch_image is a
permanent error. put_image writes the raw disk into a new EBS snapshot with the EBS direct
APIs (upload.py), waits (image_timeout) for the snapshot to complete, and registers an AMI
booting from it, tagged with the catalog's checksum. Chosen over S3 + ImportImage (VM
Import) because that needs a bucket and a service role in every account, converts formats
the catalog does not use either, and moto does not implement it; the direct APIs need
neither and moto serves them. Each step finds what an earlier, interrupted call left (the
AMI by name, the snapshot by its tags), so asking again resumes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

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
from allotment.integrations.ec2 import session, upload
from allotment.integrations.ec2.session import Ec2Options

T = TypeVar("T")

CHECKSUM_TAG = "allotment-checksum"
SIZE_TAG = "allotment-size"
IMAGE_TAG = "allotment-image"  # on a snapshot put_image made: the image's name
VCPU_QUOTA = ("ec2", "L-1216C47A")  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z)
USER_DATA_MAX = 16 * 1024  # bytes, before base64: EC2's limit
IMAGE_TIMEOUT = 600  # s put_image waits for its snapshot to complete
ROOT_DEVICE = "/dev/xvda"
LIVES = 50  # boots of one name within EC2's memory of tokens (24 h) that boot follows

STATES = {
    "pending": ServerStatus.BUILDING,
    "running": ServerStatus.ACTIVE,
    "shutting-down": ServerStatus.DELETING,
    "stopping": ServerStatus.OTHER,
    "stopped": ServerStatus.OTHER,
}
ALIVE = sorted(STATES)  # every state but terminated
USING = ["pending", "running"]  # the states the account's limits count


def status_of(state: str, reason_code: str = "") -> ServerStatus:
    """Burst's view of an EC2 instance state; a stop EC2 caused itself is an error."""
    if state in ("stopping", "stopped") and reason_code.startswith("Server."):
        return ServerStatus.ERROR
    return STATES.get(state, ServerStatus.OTHER)


def checksums_of(text: str) -> dict[str, str]:
    """The allotment-checksum tag as ImageInfo.checksums: "sha256:<hex>" names its
    algorithm; a bare digest of 32 hex digits is an md5 (as Ironic, Glance and
    burst.images read a bare checksum); anything else is no checksum."""
    algo, sep, value = text.strip().partition(":")
    if sep:
        algo, value = algo.lower(), value.strip().lower()
        return {algo: value} if algo.isalnum() and _hex(value) else {}
    bare = algo.lower()
    return {"md5": bare} if len(bare) == 32 and _hex(bare) else {}


def _hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def tags_of(item: dict) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in item.get("Tags") or []}


def next_token(token: str, ended: str) -> str:
    """The token of the name's next life, after EC2 answered `token` with the ended
    instance `ended`: the same from every retry, so the next life is booted once too."""
    return "allotment-" + hashlib.sha256(f"{token}\0{ended}".encode()).hexdigest()[:48]


def client_token(request: BootRequest, options: dict) -> str:
    """RunInstances' idempotency token: the same for the same request (a retry), different
    when anything asked differs (EC2 refuses a token reused with other parameters)."""
    asked = {
        "name": request.name, "flavor": request.flavor_id, "image": request.image_id,
        "user_data": request.user_data, "tags": request.tags,
        "subnet": options.get("subnet_id"), "groups": options.get("security_group_ids"),
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    return f"allotment-{digest[:48]}"  # EC2 takes at most 64 characters


class Ec2Cloud:
    """One EC2 account and region (see the module docstring)."""

    def __init__(self, name: str, options: dict):
        self.name = name
        self.options = dict(options or {})
        self.opts = Ec2Options.parse(name, self.options)
        types = self.options.get("instance_types") or []
        if (
            not types
            or not isinstance(types, list)
            or not all(isinstance(t, str) and t for t in types)
        ):
            raise session.config_error(
                f"The options of EC2 cloud {name} offer no instance types: set "
                '{"instance_types": ["t3.small", ...]}.'
            )
        self.instance_types = list(dict.fromkeys(types))
        self.image_ids = list(self.options.get("image_ids") or [])
        self.image_timeout = float(self.options.get("image_timeout", IMAGE_TIMEOUT))

    # -- calls -------------------------------------------------------------------------

    def call(self, what: str, method: str, service: str = "ec2", **params) -> dict:
        """One API call; its failure as an EngineError naming the cloud and the call."""
        try:
            return getattr(session.client(self.opts, service), method)(**params)
        except EngineError:
            raise
        except Exception as e:  # botocore's errors are not one hierarchy
            raise session.engine_error(self.name, what, e) from e

    def pages(self, what: str, method: str, key: str, **params) -> list[dict]:
        """Every item under `key` of every page of a paginated call."""
        try:
            paginator = session.client(self.opts, "ec2").get_paginator(method)
            return [item for page in paginator.paginate(**params) for item in page[key]]
        except EngineError:
            raise
        except Exception as e:
            raise session.engine_error(self.name, what, e) from e

    def instances(self, states: Iterable[str], **filters: str) -> list[dict]:
        wanted = [{"Name": "instance-state-name", "Values": list(states)}]
        wanted += [{"Name": k, "Values": [v]} for k, v in filters.items()]
        reservations = self.pages(
            "describe_instances", "describe_instances", "Reservations", Filters=wanted
        )
        return [i for r in reservations for i in r["Instances"]]

    def instance_types_info(self, names: Iterable[str], what: str) -> dict[str, dict]:
        """DescribeInstanceTypes of `names` (at most 100 a call), by name."""
        names = sorted(set(names))
        found: dict[str, dict] = {}
        for start in range(0, len(names), 100):
            reply = self.call(
                what, "describe_instance_types", InstanceTypes=names[start : start + 100]
            )
            found.update({t["InstanceType"]: t for t in reply["InstanceTypes"]})
        return found

    # -- CloudDriver ---------------------------------------------------------------------

    def quota(self) -> Quota:
        reply = self.call(
            "describe_account_attributes", "describe_account_attributes",
            AttributeNames=["max-instances"],
        )  # fmt: skip
        limit = None
        for attribute in reply.get("AccountAttributes", []):
            if attribute["AttributeName"] == "max-instances" and attribute["AttributeValues"]:
                limit = int(attribute["AttributeValues"][0]["AttributeValue"])
        using = self.instances(USING)
        counts = Counter(i["InstanceType"] for i in using)
        sizes = self.instance_types_info(counts, "describe_instance_types (quota)")
        cores = ram = 0
        for instance in using:
            size = sizes.get(instance["InstanceType"], {})
            cpu = instance.get("CpuOptions") or {}  # set when launched with fewer cores
            if cpu.get("CoreCount"):
                cores += cpu["CoreCount"] * cpu.get("ThreadsPerCore", 1)
            else:
                cores += size.get("VCpuInfo", {}).get("DefaultVCpus", 0)
            ram += size.get("MemoryInfo", {}).get("SizeInMiB", 0)
        return Quota(instances=limit, cores=self.vcpu_limit(), ram_mb=None,
                     used_instances=len(using), used_cores=cores, used_ram_mb=ram)  # fmt: skip

    def vcpu_limit(self) -> int | None:
        """Service Quotas' vCPU limit, or None where that API says no (moto has no EC2
        quotas; the keys may not be allowed to read them). Not answering is temporary."""
        try:
            reply = self.call(
                "get_service_quota", "get_service_quota", "service-quotas",
                ServiceCode=VCPU_QUOTA[0], QuotaCode=VCPU_QUOTA[1],
            )  # fmt: skip
        except EngineError as e:
            if e.permanent or isinstance(e.__cause__, ClientError):
                return None
            raise
        value = reply.get("Quota", {}).get("Value")
        return None if value is None else int(value)

    def flavors(self) -> list[FlavorInfo]:
        found = self.instance_types_info(self.instance_types, "describe_instance_types")
        flavors = [
            FlavorInfo(
                name=name,
                id=name,
                cores=info["VCpuInfo"]["DefaultVCpus"],
                ram_mb=info["MemoryInfo"]["SizeInMiB"],
                disk_gb=(info.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0),
            )
            for name, info in found.items()
        ]
        return sorted(flavors, key=lambda f: (f.cores, f.ram_mb, f.name))

    def images(self) -> list[ImageInfo]:
        found = self.pages("describe_images", "describe_images", "Images", Owners=["self"])
        if self.image_ids:
            known = {i["ImageId"] for i in found}
            wanted = [i for i in self.image_ids if i not in known]
            if wanted:
                found += self.call(
                    "describe_images (options image_ids)", "describe_images", ImageIds=wanted
                )["Images"]
        return sorted((image_info(i) for i in found), key=lambda i: (i.name, i.id))

    def servers(self) -> list[ServerInfo]:
        return [server_info(i) for i in self.instances(ALIVE)]

    def boot(self, request: BootRequest) -> str:
        live = self.instances(ALIVE, **{f"tag:{VM_KEY}": request.name})
        live = [i for i in live if i["State"]["Name"] != "shutting-down"]
        if live:
            return min(live, key=lambda i: (i["LaunchTime"], i["InstanceId"]))["InstanceId"]
        if len(request.user_data.encode()) > USER_DATA_MAX:
            raise EngineError(
                f"EC2 cloud {self.name}: the user data of {request.name} is "
                f"{len(request.user_data.encode())} bytes; EC2 takes at most {USER_DATA_MAX}.",
                permanent=True,
            )
        named = {**request.tags, VM_KEY: request.name, "Name": request.name}
        tags = [{"Key": k, "Value": v} for k, v in named.items()]
        params: dict[str, Any] = {
            "ImageId": request.image_id, "InstanceType": request.flavor_id,
            "MinCount": 1, "MaxCount": 1, "UserData": request.user_data,
            "ClientToken": client_token(request, self.options),
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }  # fmt: skip
        if self.options.get("subnet_id"):
            params["SubnetId"] = self.options["subnet_id"]
        if self.options.get("security_group_ids"):
            params["SecurityGroupIds"] = list(self.options["security_group_ids"])
        ended = []
        for _ in range(LIVES):
            reply = self.call(f"run_instances ({request.name})", "run_instances", **params)
            instance = reply["Instances"][0]
            if instance["State"]["Name"] not in ("shutting-down", "terminated"):
                return instance["InstanceId"]
            # An earlier life of this name, same request: EC2 answered with it again.
            ended.append(instance["InstanceId"])
            params["ClientToken"] = next_token(params["ClientToken"], instance["InstanceId"])
        raise EngineError(
            f"EC2 cloud {self.name}: run_instances for {request.name} keeps returning ended "
            f"instances of earlier boots of this name ({', '.join(ended)}).",
            permanent=True,
        )

    def delete(self, server_id: str) -> None:
        try:
            self.call(
                f"terminate_instances ({server_id})", "terminate_instances",
                InstanceIds=[server_id],
            )  # fmt: skip
        except EngineError as e:
            if session.error_code(e.__cause__) != "InvalidInstanceID.NotFound":
                raise

    def fetch_image(self, image_id: str, dest: Path) -> Path:
        raise EngineError(
            f"EC2 cloud {self.name}: image {image_id} cannot be fetched: EC2 images are "
            "copied in (put_image), never out, as EC2 cannot hand out an AMI's bytes. Copy "
            "the image from the catalog's source or from another cloud instead.",
            permanent=True,
        )

    def put_image(self, name: str, checksum: str, data: Path) -> str:
        existing = self.image_named(name)
        if existing is not None:
            return self.same_image(existing, name, checksum)
        size = upload.check_raw(self.name, data)
        snapshot = self.snapshot_for(name, checksum) or self.upload(name, checksum, data, size)
        self.wait_completed(snapshot, name)
        tags = [{"Key": "Name", "Value": name}, {"Key": CHECKSUM_TAG, "Value": checksum},
                {"Key": SIZE_TAG, "Value": str(size)}]  # fmt: skip
        try:
            image_id = self.call(
                f"register_image ({name})", "register_image",
                Name=name, Description=f"Copied by Allotment; {checksum}"[:255],
                Architecture=self.options.get("architecture", "x86_64"),
                RootDeviceName=ROOT_DEVICE, VirtualizationType="hvm", EnaSupport=True,
                BlockDeviceMappings=[{"DeviceName": ROOT_DEVICE, "Ebs": {
                    "SnapshotId": snapshot, "DeleteOnTermination": True, "VolumeType": "gp3"}}],
                TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
            )["ImageId"]  # fmt: skip
        except EngineError as e:
            raced = self.image_named(name)  # registered meanwhile by another call
            if session.error_code(e.__cause__) != "InvalidAMIName.Duplicate" or raced is None:
                raise
            return self.same_image(raced, name, checksum)
        # Again, for an API that ignores TagSpecifications here (moto does): idempotent.
        self.call(f"create_tags ({image_id})", "create_tags", Resources=[image_id], Tags=tags)
        return image_id

    # -- put_image's steps -----------------------------------------------------------------

    def image_named(self, name: str) -> dict | None:
        found = self.call(
            f"describe_images ({name})", "describe_images",
            Owners=["self"], Filters=[{"Name": "name", "Values": [name]}],
        )["Images"]  # fmt: skip
        return found[0] if found else None

    def same_image(self, image: dict, name: str, checksum: str) -> str:
        """The id of an image of ours with `name`, if it holds the data asked for."""
        held = tags_of(image).get(CHECKSUM_TAG)
        if held != checksum:
            raise EngineError(
                f"EC2 cloud {self.name}: an image named {name} exists already "
                f"({image['ImageId']}) with {'checksum ' + held if held else 'no checksum'}, "
                f"not {checksum}: deregister it, or copy the image under another name.",
                permanent=True,
            )
        return image["ImageId"]

    def snapshot_for(self, name: str, checksum: str) -> str | None:
        """A snapshot an earlier put_image of this image wrote (completed or completing)."""
        found = self.call(
            f"describe_snapshots ({name})", "describe_snapshots", OwnerIds=["self"],
            Filters=[{"Name": f"tag:{IMAGE_TAG}", "Values": [name]},
                     {"Name": f"tag:{CHECKSUM_TAG}", "Values": [checksum]},
                     {"Name": "status", "Values": ["pending", "completed"]}],
        )["Snapshots"]  # fmt: skip
        return found[0]["SnapshotId"] if found else None

    def upload(self, name: str, checksum: str, data: Path, size: int) -> str:
        started = self.call(
            f"start_snapshot ({name})", "start_snapshot", "ebs",
            VolumeSize=upload.volume_gib(size), Description=f"Allotment image {name}",
            Tags=[{"Key": IMAGE_TAG, "Value": name}, {"Key": CHECKSUM_TAG, "Value": checksum}],
            ClientToken=hashlib.sha256(f"{name}\0{checksum}".encode()).hexdigest()[:64],
        )  # fmt: skip
        snapshot = started["SnapshotId"]
        written = self.guarded(
            f"put_snapshot_block ({name})",
            lambda: upload.put_blocks(session.client(self.opts, "ebs"), snapshot, data),
        )
        self.call(
            f"complete_snapshot ({name})", "complete_snapshot", "ebs",
            SnapshotId=snapshot, ChangedBlocksCount=written,
        )  # fmt: skip
        return snapshot

    def guarded(self, what: str, step: Callable[[], T]) -> T:
        try:
            return step()
        except EngineError:
            raise
        except Exception as e:
            raise session.engine_error(self.name, what, e) from e

    def wait_completed(self, snapshot: str, name: str) -> None:
        deadline = time.monotonic() + self.image_timeout
        delay = 0.2
        while True:
            found = self.call(
                f"describe_snapshots ({snapshot})", "describe_snapshots", SnapshotIds=[snapshot]
            )["Snapshots"]
            state = found[0]["State"] if found else "gone"
            if state == "completed":
                return
            if state in ("error", "gone"):
                raise EngineError(
                    f"EC2 cloud {self.name}: snapshot {snapshot} of image {name} is {state}: "
                    f"{(found[0].get('StateMessage') if found else '') or 'no reason given'}.",
                    permanent=True,
                )
            if time.monotonic() > deadline:
                raise EngineError(
                    f"EC2 cloud {self.name}: snapshot {snapshot} of image {name} is still "
                    f"{state} after {self.image_timeout:.0f} s; asking again resumes."
                )
            time.sleep(delay)
            delay = min(delay * 2, 10)


def image_info(image: dict) -> ImageInfo:
    tags = tags_of(image)
    state = image.get("State", "")
    try:
        size = int(tags.get(SIZE_TAG, 0))
    except ValueError:
        size = 0
    return ImageInfo(
        name=image.get("Name") or image["ImageId"], id=image["ImageId"],
        status="active" if state == "available" else state,
        checksums=checksums_of(tags.get(CHECKSUM_TAG, "")), size=size,
    )  # fmt: skip


def server_info(instance: dict) -> ServerInfo:
    tags = tags_of(instance)
    reason = instance.get("StateReason") or {}
    status = status_of(instance["State"]["Name"], reason.get("Code", ""))
    launched = instance.get("LaunchTime")
    fault = reason.get("Message") or reason.get("Code", "")
    return ServerInfo(
        id=instance["InstanceId"],
        name=tags.get("Name") or tags.get(VM_KEY) or instance["InstanceId"],
        status=status,
        tags=tags,
        fault=fault if status == ServerStatus.ERROR else "",
        flavor=instance.get("InstanceType", ""),
        created=launched.isoformat() if hasattr(launched, "isoformat") else str(launched or ""),
    )
