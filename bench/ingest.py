"""Ingest benchmark: the RICC trace (447,794 jobs) as sacct text, into SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py [--engines sqlite,postgresql]

Prints, per engine: jobs/s of a first import into a fresh database (people and projects
created on the way with --create-missing), the time of a second import of the same file
(which must change nothing), peak RSS of the importing process, and the ratio of the
import time to a plain `csv` read of the same file. Targets: >= 50,000 jobs/s on SQLite,
>= 25,000 on PostgreSQL, <= 300 MB RSS, the re-import at least twice as fast.
"""

import argparse
import csv
import gzip
import json
import resource
import subprocess
import sys
import time
import zoneinfo
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, fresh_environment, postgres_answers, swf_header, trace

COLUMNS = (
    "JobID|User|Account|Partition|Submit|Eligible|Start|End|Elapsed|AllocCPUS|NNodes|State|ExitCode"
)
STATES = {"1": "COMPLETED", "0": "FAILED", "5": "CANCELLED by 0"}


def elapsed(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def render_ricc() -> tuple[Path, int, str]:
    """RICC as `sacct --parsable2` text in the machine's local time (rendered once)."""
    source = trace("RICC-2010-2.swf.gz")
    header = swf_header(source)
    zone = header.get("TimeZoneString", "Asia/Tokyo")
    epoch = int(header["UnixStartTime"])
    target = OUT / "ricc.sacct"
    if target.exists():
        return target, sum(1 for _ in open(target)) - 1, zone
    OUT.mkdir(parents=True, exist_ok=True)
    tz = zoneinfo.ZoneInfo(zone)

    def local(ts: int) -> str:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%dT%H:%M:%S")

    jobs = 0
    with gzip.open(source, "rt") as f, open(target, "w") as out:
        out.write(COLUMNS + "\n")
        for line in f:
            if line.startswith(";"):
                continue
            v = line.split()
            if len(v) != 18 or int(v[1]) < 0:
                continue
            submit = epoch + int(v[1])
            start = submit + max(int(v[2]), 0)
            run = max(int(float(v[3])), 0)
            cores = max(int(v[4]), 0)
            group = int(v[12])
            out.write(
                f"{v[0]}|u{v[11]}|{'g' + str(group) if group >= 0 else ''}|q{v[14]}|"
                f"{local(submit)}|{local(submit)}|{local(start)}|{local(start + run)}|"
                f"{elapsed(run)}|{cores}|{max(cores // 8, 1)}|"
                f"{STATES.get(v[10], 'COMPLETED')}|0:0\n"
            )
            jobs += 1
    return target, jobs, zone


def worker(path: str, zone: str) -> None:
    """Runs in a child: two imports of `path`, timed inside the process."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()
    from allotment.core.validation import save_validated
    from allotment.resources.models import Machine, MachineCategory
    from allotment.usage import ingest

    category, _ = MachineCategory.objects.get_or_create(name="default")
    save_validated(Machine(name="ricc", category=category, time_zone=zone))
    options = ingest.Options(format="sacct", machine="ricc", create_missing=True, institute="RIKEN")
    results = {}
    for name in ("first", "second"):
        began = time.perf_counter()
        summary = ingest.import_files([Path(path)], options)
        results[name] = {"seconds": time.perf_counter() - began, "summary": summary.as_dict()}
    results["first"]["created"] = len(results["first"]["summary"].pop("created"))
    results["second"]["summary"].pop("created")
    print(json.dumps(results))


def csv_read_seconds(path: Path) -> float:
    began = time.perf_counter()
    with open(path, newline="") as f:
        for _ in csv.reader(f, delimiter="|"):
            pass
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--worker", nargs=2, metavar=("FILE", "ZONE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)

    path, jobs, zone = render_ricc()
    baseline = min(csv_read_seconds(path) for _ in range(3))
    print(f"RICC as sacct text: {jobs:,} jobs, {path.stat().st_size / 1e6:.0f} MB; "
          f"plain csv read {baseline:.2f} s")  # fmt: skip
    for engine in args.engines.split(","):
        if engine == "postgresql" and not postgres_answers():
            print("postgresql: no server answers; skipped")
            continue
        env = fresh_environment(engine)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(path), zone],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            print(f"{engine}: worker failed\n{out.stderr}")
            continue
        rss = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
        r = json.loads(out.stdout.strip().splitlines()[-1])
        first, second = r["first"], r["second"]
        rate = jobs / first["seconds"]
        print(f"\n{engine}:")
        print(
            f"  first import   {first['seconds']:6.2f} s  {rate:9,.0f} jobs/s   "
            f"{json.dumps(first['summary'])}  ({first['created']} people/projects created)"
        )
        speedup = first["seconds"] / second["seconds"]
        print(
            f"  second import  {second['seconds']:6.2f} s  {speedup:.1f}x faster   "
            f"{json.dumps(second['summary'])}"
        )
        print(f"  peak RSS       {rss:6.0f} MB")
        print(f"  import / csv read  {first['seconds'] / baseline:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
