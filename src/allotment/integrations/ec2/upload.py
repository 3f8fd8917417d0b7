"""A raw disk image copied into a new EBS snapshot with the EBS direct APIs.

EC2 boots an AMI, and an AMI is EBS snapshots plus a few attributes; the direct APIs
(StartSnapshot, PutSnapshotBlock, CompleteSnapshot) write a snapshot from bytes, with no S3
bucket and no VM Import service role. They take a raw disk: a qcow2 (the catalog's usual
format, and OpenStack's) is refused with the command that converts it. Blocks of zeros are
not sent (a new snapshot reads as zeros), so a sparse 8 GiB disk costs what it holds.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from allotment.inventory.engines import EngineError

BLOCK = 512 * 1024  # bytes: the only block size of the EBS direct APIs
GIB = 1024**3
PARALLEL = 4  # blocks in flight: AWS allows far more; this keeps one upload polite
QCOW2_MAGIC = b"QFI\xfb"


def check_raw(cloud: str, data: Path) -> int:
    """The size of a raw disk image, or a permanent error saying why it cannot be one."""
    try:
        with open(data, "rb") as handle:
            head = handle.read(4)
        size = data.stat().st_size
    except OSError as e:
        raise EngineError(f"EC2 cloud {cloud}: put_image cannot read {data}: {e}") from None
    if head == QCOW2_MAGIC:
        raise EngineError(
            f"EC2 cloud {cloud}: {data} is a qcow2 image; EC2 takes raw disks. Convert it "
            f"(qemu-img convert -O raw {data.name} {data.stem}.raw) and copy that.",
            permanent=True,
        )
    if size == 0:
        raise EngineError(f"EC2 cloud {cloud}: {data} is empty.", permanent=True)
    return size


def volume_gib(size: int) -> int:
    """The snapshot's volume size: whole GiB, at least 1."""
    return max(1, -(-size // GIB))


def blocks(data: Path):
    """(index, block) of every block holding something other than zeros, the last one
    padded with zeros to a full block."""
    with open(data, "rb") as handle:
        index = 0
        while chunk := handle.read(BLOCK):
            if chunk.count(0) != len(chunk):
                yield index, chunk.ljust(BLOCK, b"\0")
            index += 1


def put_blocks(ebs: Any, snapshot_id: str, data: Path) -> int:
    """Write the image's blocks into the open snapshot; return how many were written."""

    def put(item: tuple[int, bytes]) -> None:
        index, block = item
        digest = base64.b64encode(hashlib.sha256(block).digest()).decode()
        ebs.put_snapshot_block(
            SnapshotId=snapshot_id, BlockIndex=index, BlockData=block, DataLength=BLOCK,
            Checksum=digest, ChecksumAlgorithm="SHA256",
        )  # fmt: skip

    # Executor.map would read the whole image first: at most 2 * PARALLEL blocks in memory.
    written = 0
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="ebs-put") as pool:
        for item in blocks(data):
            if len(pending) >= 2 * PARALLEL:
                pending.popleft().result()
            pending.append(pool.submit(put, item))
            written += 1
        while pending:
            pending.popleft().result()
    return written
