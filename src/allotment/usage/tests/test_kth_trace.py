"""Done means: the KTH SP2 trace imported with --create-missing reports the same totals as an
independent reading of the raw file.

The trace is one of the real SWF logs in ../shared/traces/ (next to the repository);
ALLOTMENT_TRACES names another directory holding it.
"""

import gzip
import os
from decimal import Decimal
from pathlib import Path

import pytest

from allotment.people.models import Person
from allotment.projects.models import Project
from allotment.usage.models import Job

from .helpers import cli_json

TRACE = "KTH-SP2-1996-2.1-cln.swf.gz"
REPO = Path(__file__).resolve().parents[4]
TRACES = Path(os.environ.get("ALLOTMENT_TRACES") or REPO.parent / "shared" / "traces")


def own_reading(path: Path) -> tuple[int, int]:
    """(jobs, core-seconds) straight from the file: every job line with a submit time,
    processors x run time where both are known."""
    jobs = core_seconds = 0
    with gzip.open(path, "rt") as lines:
        for line in lines:
            if line.startswith(";") or not line.strip():
                continue
            fields = line.split()
            assert len(fields) == 18, line
            if float(fields[1]) < 0:
                continue
            jobs += 1
            core_seconds += max(int(fields[4]), 0) * max(int(fields[3]), 0)
    return jobs, core_seconds


def test_kth_trace_totals_equal_an_independent_reading(example, capsys):
    path = TRACES / TRACE
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real SWF traces live in ../shared/traces/")
    jobs, core_seconds = own_reading(path)
    assert (jobs, core_seconds) == (28476, 2_016_591_520)  # as awk counts them too

    summary = cli_json(
        capsys, "usage", "import", "--format", "swf", "--machine", "kth",
        "--create-missing", "--institute", "KTH", str(path),
    )  # fmt: skip
    assert (summary["read"], summary["new"]) == (jobs, jobs)
    assert (summary["quarantined"], summary["rejected"]) == (0, 0)
    assert Job.objects.filter(machine__name="kth").count() == jobs

    rows = cli_json(capsys, "usage", "report", "--by", "year", "--machine", "kth")
    assert [r["period"] for r in rows] == ["1996", "1997"]
    assert sum(r["jobs"] for r in rows) == jobs
    hours = Decimal(core_seconds) / 3600
    raw = sum(Decimal(str(r["raw"])) for r in rows)
    used = sum(Decimal(str(r["used"])) for r in rows)
    assert abs(raw - hours) <= hours * Decimal("1e-6")
    assert abs(used - hours) <= hours * Decimal("1e-6")  # a created machine scales by 1

    institute = Project.objects.get(pid="KTH")
    assert institute.parent_id is None
    assert Project.objects.filter(parent=institute, pid__startswith="kth-g").exists()
    assert (
        not Person.objects.filter(username__startswith="kth-u")
        .exclude(institute=institute)
        .exists()
    )

    again = cli_json(
        capsys, "usage", "import", "--format", "swf", "--machine", "kth",
        "--create-missing", "--institute", "KTH", str(path),
    )  # fmt: skip
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, jobs)
    assert cli_json(capsys, "usage", "report", "--by", "year", "--machine", "kth") == rows
