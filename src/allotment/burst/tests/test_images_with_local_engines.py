"""Image sync between two local clouds (burst.images): a missing copy is made with the
same checksum, a dry run changes nothing, a name whose copy has another checksum is a
conflict never overwritten, and the catalog's checksum (inventory.Image) decides."""

import hashlib
from pathlib import Path

import pytest

from allotment.burst import drivers, images, services
from allotment.burst.images import Copy
from allotment.burst.local import DEFAULT_IMAGE_DATA, LocalCloud, image_checksum
from allotment.burst.models import Cloud, CloudImage
from allotment.inventory.models import Image
from allotment.resources.models import Machine, MachineCategory, MachineKind

pytestmark = pytest.mark.django_db

WORKER = image_checksum(DEFAULT_IMAGE_DATA)  # what nimbus has from the start
OTHER = b"another build of the worker image\n"


@pytest.fixture(autouse=True)
def fresh_listings(monkeypatch):
    monkeypatch.setattr(services, "_servers", {})


def new_cloud(name: str, priority: int, **options) -> Cloud:
    machine = Machine.objects.create(
        name=name, kind=MachineKind.CLOUD, category=MachineCategory.objects.first()
    )
    return Cloud.objects.create(
        machine=machine, driver="local", options=options, default_image="burst-worker",
        priority=priority,
    )  # fmt: skip


@pytest.fixture
def clouds(burst_site):
    """nimbus with the worker image, stratus (chosen after it) with no image at all."""
    _, nimbus = burst_site
    return nimbus, new_cloud("stratus", 20, images=[])


def local(cloud: str) -> LocalCloud:
    """The cloud's driver with its options (which images it starts with)."""
    return drivers.cloud(Cloud.objects.get(machine__name=cloud))


def listed(cloud: str) -> list[tuple[str, str, dict]]:
    return [(i.name, i.status, i.checksums) for i in local(cloud).images()]


def data_of(cloud: str, tmp_path: Path) -> bytes:
    local_cloud = local(cloud)
    (image,) = local_cloud.images()
    return local_cloud.fetch_image(image.id, tmp_path).read_bytes()


def test_a_missing_copy_is_made_with_the_same_checksum_and_is_active(clouds, tmp_path):
    nimbus, stratus = clouds
    result = images.sync()
    assert result.copies == [Copy("burst-worker", WORKER, "nimbus", "img-burst-worker", "stratus")]
    assert [(d["image"], d["dest"]) for d in result.done] == [("burst-worker", "stratus")]
    assert result.failed == [] and result.conflicts == [] and result.missing == []
    assert result.present == [("burst-worker", "nimbus")]

    sha = WORKER.removeprefix("sha256:")
    assert listed("stratus") == [("burst-worker", "active", {"sha256": sha})]
    assert hashlib.sha256(data_of("stratus", tmp_path)).hexdigest() == sha
    # The copy is in the database (sync refreshed stratus), so the next plan has nothing to do.
    assert CloudImage.objects.get(cloud=stratus).ext_id == result.done[0]["id"]
    again = images.plan([nimbus, stratus])
    assert again.present == [("burst-worker", "nimbus"), ("burst-worker", "stratus")]
    assert again.copies == []


def test_a_dry_run_plans_the_copy_and_changes_nothing(clouds):
    _, stratus = clouds
    result = images.sync(dry_run=True)
    assert result.copies == [Copy("burst-worker", WORKER, "nimbus", "img-burst-worker", "stratus")]
    assert result.done == []
    assert listed("stratus") == []
    assert CloudImage.objects.filter(cloud=stratus).count() == 0
    assert [i.name for i in local("nimbus").images()] == ["burst-worker"]


@pytest.mark.usefixtures("clouds")
def test_a_name_with_another_checksum_is_a_conflict_never_overwritten():
    theirs = local("stratus").add_image("burst-worker", OTHER)
    for _ in range(2):
        result = images.sync()
        assert result.conflicts == [
            {"image": "burst-worker", "cloud": "stratus", "expected": WORKER,
             "found": [image_checksum(OTHER)]}
        ]  # fmt: skip
        assert result.copies == [] and result.done == []
        assert [(i.id, i.name) for i in local("stratus").images()] == [(theirs, "burst-worker")]


@pytest.mark.usefixtures("clouds")
def test_the_catalog_checksum_wins_over_the_clouds():
    local("stratus").add_image("burst-worker", OTHER)
    Image.objects.create(
        name="burst-worker", kind="cloud", source_url="https://images.example.org/worker.qcow2",
        checksum=image_checksum(OTHER),
    )  # fmt: skip
    cumulus = new_cloud("cumulus", 30, images=[])

    result = images.sync()
    # nimbus is chosen first, but its copy is not the catalog's: a conflict there, and the
    # copy to cumulus comes from stratus.
    assert result.conflicts == [
        {"image": "burst-worker", "cloud": "nimbus", "expected": image_checksum(OTHER),
         "found": [WORKER]}
    ]  # fmt: skip
    assert [(c.source, c.dest, c.checksum) for c in result.copies] == [
        ("stratus", "cumulus", image_checksum(OTHER))
    ]
    assert result.present == [("burst-worker", "stratus")]
    other = {"sha256": image_checksum(OTHER).removeprefix("sha256:")}
    assert listed("cumulus") == [("burst-worker", "active", other)]
    assert listed("nimbus") == [("burst-worker", "active", {"sha256": WORKER[7:]})]
    assert cumulus.pk in set(CloudImage.objects.values_list("cloud", flat=True))


def test_an_image_no_cloud_has_is_reported_missing(clouds):
    _, stratus = clouds
    stratus.images = ["analysis"]
    stratus.save()
    result = images.sync()
    assert result.missing == [{"image": "analysis", "cloud": "stratus", "why": "no cloud has it"}]
    assert result.copies == []


def test_a_copy_whose_hashes_cannot_be_compared_is_unverified_and_left_alone(clouds):
    """Glance hashes with sha512 and md5; a catalog sha256 matches neither: the copy is
    reported as unverified, neither a conflict nor copied over."""
    nimbus, stratus = clouds
    Cloud.objects.filter(pk=stratus.pk).update(images=["burst-worker"])
    services.refresh(nimbus)
    CloudImage.objects.create(
        cloud=stratus, name="burst-worker", ext_id="glance-1", status="active",
        checksums={"sha512": hashlib.sha512(DEFAULT_IMAGE_DATA).hexdigest()},
    )  # fmt: skip
    plan = images.plan([Cloud.objects.get(pk=nimbus.pk), Cloud.objects.get(pk=stratus.pk)])
    assert plan.present == [("burst-worker", "nimbus")]
    assert plan.copies == [] and plan.conflicts == []
    assert plan.unverified == [
        {"image": "burst-worker", "cloud": "stratus", "expected": WORKER,
         "found": ["sha512:" + hashlib.sha512(DEFAULT_IMAGE_DATA).hexdigest()]}
    ]  # fmt: skip
