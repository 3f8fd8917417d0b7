"""Which bytes of a raw disk put_image sends, and which images it refuses, without EC2."""

import pytest

from allotment.integrations.ec2 import upload
from allotment.inventory.engines import EngineError


def test_zero_blocks_are_skipped_and_the_last_is_padded(tmp_path):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * upload.BLOCK + b"x" * upload.BLOCK + b"\0" * upload.BLOCK + b"tail")
    sent = list(upload.blocks(disk))
    assert [index for index, _ in sent] == [1, 3]
    assert sent[0][1] == b"x" * upload.BLOCK
    assert sent[1][1] == b"tail" + b"\0" * (upload.BLOCK - 4)


@pytest.mark.parametrize(
    ("size", "gib"), [(1, 1), (upload.GIB, 1), (upload.GIB + 1, 2), (8 * upload.GIB, 8)]
)
def test_volume_is_whole_gib(size, gib):
    assert upload.volume_gib(size) == gib


def test_qcow2_and_empty_images_are_refused(tmp_path):
    qcow = tmp_path / "worker.qcow2"
    qcow.write_bytes(upload.QCOW2_MAGIC + b"\0" * 100)
    with pytest.raises(EngineError, match=r"qemu-img convert -O raw worker.qcow2 worker.raw"):
        upload.check_raw("c1", qcow)
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    with pytest.raises(EngineError, match="is empty") as caught:
        upload.check_raw("c1", empty)
    assert caught.value.permanent
    raw = tmp_path / "ok.raw"
    raw.write_bytes(b"x" * 1000)
    assert upload.check_raw("c1", raw) == 1000
