"""What the simulation tests share: a one-cloud clouds.yaml, SWF lines and files written
as the archive's traces are, and where the example clouds file and the RICC trace are."""

import gzip
from pathlib import Path

RICC = Path("/work/shared/traces/RICC-2010-2.swf.gz")
EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "clouds.yaml"


ONE_CLOUD = {
    "cycle_s": 10,
    "clouds": [
        {
            "name": "nimbus",
            "price_per_core_hour": 0.36,
            "quota": {"instances": 4, "cores": 8},
            "flavors": [
                {"name": "small", "cores": 1, "ram_mb": 1000},
                {"name": "medium", "cores": 2, "ram_mb": 2000},
            ],
            "idle_keep": 100,
            "boot_time": 60,
            "registration_time": {"dist": "fixed", "s": 30},
        }
    ],
}


def swf_line(number, submit, run, procs, mem_kb=-1, user=1, group=1, queue=1, alloc=None):
    alloc = procs if alloc is None else alloc
    fields = [number, submit, 0, run, alloc, -1, -1, procs, 3600, mem_kb, 1, user, group,
              -1, queue, 1, -1, -1]  # fmt: skip
    return " ".join(str(f) for f in fields)


def write_swf(path: Path, lines: list[str], epoch: int = 1_272_639_895) -> Path:
    header = [f"; UnixStartTime: {epoch}", "; TimeZoneString: Asia/Tokyo", ";"]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(header + lines) + "\n")
    return path
