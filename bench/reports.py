"""Report benchmark: about a million real jobs, 100 varied report queries.

    .venv/bin/python bench/reports.py [--engines sqlite,postgresql]

Imports RICC, CEA-Curie and SDSC-Blue (1,003,926 jobs) as three machines under three
institutes, then times 100 report queries drawn at random (fixed seed) over period,
group-by, project (with and without subtree), machine and date range, through
allotment.usage.reports.report, the service behind `allot usage report` and the API.
Prints p50, p95 and max. Target: p95 <= 50 ms.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_environment, postgres_answers, trace

TRACES = {
    "ricc": ("RICC-2010-2.swf.gz", "RIKEN"),
    "curie": ("CEA-Curie-2011-2.1-cln.swf.gz", "CEA"),
    "blue": ("SDSC-BLUE-2000-4.2-cln.swf.gz", "SDSC"),
}


def worker() -> None:
    import os
    import random

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()
    from allotment.projects.models import Project
    from allotment.usage import ingest, reports
    from allotment.usage.models import DailyUsage, Job

    began = time.perf_counter()
    for machine, (name, institute) in TRACES.items():
        options = ingest.Options(
            format="swf", machine=machine, create_missing=True, institute=institute
        )
        ingest.import_files([trace(name)], options)
    build = time.perf_counter() - began
    jobs, facts = Job.objects.count(), DailyUsage.objects.count()

    rng = random.Random(2026)
    projects = list(Project.objects.values_list("pid", flat=True))
    institutes = [i for _, i in TRACES.values()]
    span = {m: None for m in TRACES}
    for machine in TRACES:
        days = DailyUsage.objects.filter(machine__name=machine).values_list("day", flat=True)
        span[machine] = (days.order_by("day").first(), days.order_by("-day").first())
    timings = []
    for _ in range(100):
        machine = rng.choice([*TRACES, None])
        params = {
            "by": rng.choice(["day", "month", "quarter", "year"]),
            "group_by": rng.choice([None, "project", "person", "institute", "machine",
                                    "career-level", "project-level"]),
        }  # fmt: skip
        roll = rng.random()
        if roll < 0.3:
            params["project"] = rng.choice(projects)
        elif roll < 0.5:
            params["project"], params["subtree"] = rng.choice(institutes), True
        if machine:
            params["machine"] = machine
            first, last = span[machine]
            if rng.random() < 0.5:
                params["date_from"] = first + (last - first) * rng.random() / 2
                params["date_to"] = last
        if params["by"] == "day" and "project" not in params and params["group_by"]:
            params["by"] = "month"  # a table of a million cells is not a report
        t = time.perf_counter()
        rows = reports.report(**params)
        timings.append((time.perf_counter() - t, len(rows), params))
    times = sorted(t for t, _, _ in timings)
    slowest = max(timings, key=lambda x: x[0])
    print(json.dumps({
        "jobs": jobs, "facts": facts, "build_s": build,
        "p50_ms": times[49] * 1000, "p95_ms": times[94] * 1000, "max_ms": times[-1] * 1000,
        "slowest": {"rows": slowest[1], "params": {k: str(v) for k, v in slowest[2].items()}},
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    for engine in args.engines.split(","):
        if engine == "postgresql" and not postgres_answers():
            print("postgresql: no server answers; skipped")
            continue
        env = fresh_environment(engine)
        out = subprocess.run(
            [sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            print(f"{engine}: worker failed\n{out.stderr[-3000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{engine}: {r['jobs']:,} jobs, {r['facts']:,} daily usage rows "
            f"(built in {r['build_s']:.0f} s)"
        )
        print(
            f"  100 report queries: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
            f"max {r['max_ms']:.1f} ms"
        )
        print(f"  slowest: {r['slowest']}")  # fmt: skip


if __name__ == "__main__":
    main()
