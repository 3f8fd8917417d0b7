"""Portal benchmark: page server time and read-API throughput over about a million real jobs.

    .venv/bin/python bench/portal.py [--engines sqlite,postgresql] [--keep | --reuse [DIR]]
        [--workers 3] [--duration 20] [--connections 8] [--conn-max-age -]

Imports RICC, CEA-Curie and SDSC-Blue (1,003,926 jobs) as three machines under three
institutes, like bench/reports.py, then measures:

(a) pages: server time (perf_counter around django.test.Client.get, in process) of the
    project page of the busiest project and of the usage explorer over twelve varied queries
    (every metric, every group-by, the four periods, project, subtree, institute, machine and
    date filters, both fact tables), for three viewers: a site administrator, the leader of
    the busiest project (made so with projects.services.add_member) and a plain member of it
    (the leader and member are the project's two busiest users). Each URL is fetched once to
    warm up, then timed --repeat times (20 samples a page at least). Prints p50, p95 and max
    per page and viewer. Target: p95 <= 200 ms.
(b) read API: gunicorn (--workers sync workers) driven by wrk (--threads, --connections)
    for --duration seconds per token, with a Lua script rotating over /api/projects/?limit=20,
    a project, /api/people/?limit=20, a project's allocation pools and memberships and its
    monthly usage report, with `Authorization: Bearer TOKEN` of the administrator, then of the
    member. Every endpoint is checked for a 200 first; any non-2xx answer or socket error
    under wrk fails the run. Target: >= 500 requests/s on 2 cores with p99 <= 100 ms.
    Once per --conn-max-age value: "-" runs settings.py as it is (connections kept 60 s,
    $ALLOTMENT_DB_CONN_MAX_AGE); a number N runs the workers with CONN_MAX_AGE=N (set by a
    gunicorn hook; 0 is a connection per request).
    Besides req/s and latency it prints the workers' CPU time per request, read from
    /proc: unlike req/s it hardly depends on what else the machine runs, and 2000 / that
    is what two idle cores would serve (the database server's own CPU not counted).

Databases live under var/bench/portal/ (never committed): <engine>/ holds the SQLite file
or, for PostgreSQL, env.json naming the database ($BENCH_PORTAL_PG_URL, by default
allotment_portal, so bench/reports.py's database is left alone). The build takes about
half a minute per engine (and ANALYZE on PostgreSQL, as autovacuum would do). By default a
run builds afresh and removes the data afterwards; --keep keeps what it built, and
--reuse [DIR] measures the databases kept in DIR (default var/bench/portal) instead,
building only the engines missing there, to iterate on fixes quickly:

    .venv/bin/python bench/portal.py --keep                  # build, measure, keep
    .venv/bin/python bench/portal.py --reuse --skip-api      # pages again, no rebuild

Viewers are created once per database and found again on reuse; each run issues new
tokens. Other work on the machine disturbs the figures: the table shows the load average
when each was taken; re-run when it is low. wrk must be installed (apt-get install wrk).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import OUT, fresh_environment, postgres_answers, trace

TRACES = {
    "ricc": ("RICC-2010-2.swf.gz", "RIKEN"),
    "curie": ("CEA-Curie-2011-2.1-cln.swf.gz", "CEA"),
    "blue": ("SDSC-BLUE-2000-4.2-cln.swf.gz", "SDSC"),
}
BASE = OUT / "portal"
PG_URL = os.environ.get(
    "BENCH_PORTAL_PG_URL", "postgres://postgres@127.0.0.1:5432/allotment_portal"
)
PAGE_TARGET_MS = 200
API_TARGET_RPS = 500
API_TARGET_P99_MS = 100


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    import django

    django.setup()


# --- child processes (run with the database's environment) -------------------------------


def build() -> None:
    """Import the three traces into the empty, migrated database."""
    _setup()
    from django.db import connection

    from allotment.usage import ingest
    from allotment.usage.models import DailyUsage, Job

    began = time.perf_counter()
    for machine, (name, institute) in TRACES.items():
        options = ingest.Options(
            format="swf", machine=machine, create_missing=True, institute=institute
        )
        ingest.import_files([trace(name)], options)
    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk import; measured right away, the planner
        # would otherwise guess from an empty table's statistics.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(json.dumps({
        "jobs": Job.objects.count(), "facts": DailyUsage.objects.count(),
        "build_s": time.perf_counter() - began,
    }))  # fmt: skip


def setup() -> None:
    """The three viewers, a token each, and what the queries name; idempotent."""
    _setup()
    from django.db.models import Count

    from allotment.api import tokens
    from allotment.people.models import Person
    from allotment.projects import services
    from allotment.projects.models import Project, ProjectMembership
    from allotment.usage.models import Job

    admin = Person.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = Person.objects.create_superuser("bench-admin", "admin@example.org", None)
    busy_id = (
        Job.objects.filter(project__isnull=False)
        .values("project_id")
        .annotate(n=Count("id"))
        .order_by("-n")[0]["project_id"]
    )
    busy = Project.objects.get(pk=busy_id)
    # The leader and the member are the project's two busiest users: they have usage of
    # their own, as real people do.
    top = list(
        Job.objects.filter(project_id=busy_id, person__isnull=False)
        .values("person_id").annotate(n=Count("id")).order_by("-n")
        .values_list("person_id", flat=True)[:2]
    )  # fmt: skip
    viewers = {"admin": admin.username}
    for role, person_id in zip(("leader", "member"), top, strict=True):
        person = Person.objects.get(pk=person_id)
        membership = ProjectMembership.objects.filter(project=busy, person=person).first()
        if membership is None:
            services.add_member(busy, person, leader=role == "leader")
        viewers[role] = person.username
    issued = {
        role: tokens.issue(Person.objects.get(username=username), name="bench/portal.py").token
        for role, username in viewers.items()
    }
    machines = {
        m: Job.objects.filter(machine__name=m).order_by("end_ts").values_list("end_ts", flat=True)
        .first()
        for m in TRACES
    }  # fmt: skip
    print(json.dumps({
        "pid": busy.pid, "institute": busy.institute.pid, "viewers": viewers, "tokens": issued,
        "jobs": Job.objects.count(), "busy_jobs": Job.objects.filter(project_id=busy_id).count(),
        "first_end": machines,
    }))  # fmt: skip


def explorer_queries(info: dict) -> list[dict]:
    """Varied explorer queries: metrics, group-bys, periods, filters, both fact tables."""
    from datetime import UTC, datetime

    pid, institute = info["pid"], info["institute"]
    first = {m: datetime.fromtimestamp(ts, UTC).date() for m, ts in info["first_end"].items()}
    ricc, curie, blue = first["ricc"], first["curie"], first["blue"]
    return [
        {},
        {"metric": "jobs", "group_by": "person", "period": "quarter"},
        {"metric": "raw", "group_by": "machine", "period": "year"},
        {"metric": "cpu_hours_per_job", "group_by": "institute", "period": "month"},
        {"metric": "wait_hours", "group_by": "project", "period": "month", "machine": "ricc"},
        {"metric": "used", "group_by": "person", "period": "day", "project": pid},
        {"metric": "used", "group_by": "project", "period": "month", "institute": institute},
        {"metric": "jobs", "group_by": "career_level", "period": "month",
         "date_from": f"{curie.year}-{curie.month:02d}-01",
         "date_to": f"{curie.year + 1}-{curie.month:02d}-01"},
        {"metric": "used", "group_by": "project_level", "period": "quarter",
         "date_from": str(ricc.replace(day=15)), "date_to": f"{ricc.year}-12-20"},
        {"metric": "used", "group_by": "resource_pool", "period": "month", "chart": "bar"},
        {"metric": "used", "group_by": "project", "period": "month", "project": pid,
         "subtree": "on", "top": "5"},
        {"metric": "jobs", "group_by": "person", "period": "day", "machine": "blue",
         "date_from": str(blue), "date_to": str(blue.replace(year=blue.year + 1))},
    ]  # fmt: skip


def pages(info_json: str, repeat: int) -> None:
    """Server time of the project page and the explorer for each viewer (in process)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    from urllib.parse import urlencode

    from django.test import Client
    from django.urls import reverse

    import allotment.wsgi  # noqa: F401 - the process as gunicorn's workers set it up
    from allotment.people.models import Person

    info = json.loads(info_json)
    project_url = reverse("web:project", args=[info["pid"]])
    explorer_url = reverse("web:explorer")
    urls = {
        "project": [project_url],
        "explorer": [
            explorer_url + ("?" + urlencode(q) if q else "") for q in explorer_queries(info)
        ],
    }
    result: dict = {}
    for role, username in info["viewers"].items():
        client = Client()
        client.force_login(Person.objects.get(username=username))
        for page, page_urls in urls.items():
            for url in page_urls:  # warm up: templates, caches, the database's pages
                response = client.get(url)
                if response.status_code != 200:
                    sys.exit(f"{role}: GET {url} answered {response.status_code}")
            times = []
            for _ in range(max(repeat, -(-20 // len(page_urls)))):  # 20 samples at least
                for url in page_urls:
                    began = time.perf_counter()
                    response = client.get(url)
                    times.append(((time.perf_counter() - began) * 1000, url))
                    if response.status_code != 200:
                        sys.exit(f"{role}: GET {url} answered {response.status_code}")
            result.setdefault(role, {})[page] = _summary(times)
    print(json.dumps(result))


def _summary(times: list[tuple[float, str]]) -> dict:
    ordered = sorted(times)
    n = len(ordered)
    return {
        "n": n,
        "p50": ordered[(n - 1) // 2][0],
        "p95": ordered[min(n - 1, int(0.95 * n))][0],
        "max": ordered[-1][0],
        "slowest": ordered[-1][1],
    }


# --- the parent: databases, then the measurements ----------------------------------------


def prepare(engine: str, base: Path, reuse: bool) -> tuple[dict[str, str], dict | None]:
    """The environment of a built database for `engine` under base/<engine>/, and the build's
    figures (None when an existing database was reused)."""
    home = base / engine
    saved = home / "env.json"
    if reuse and saved.exists():
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        env.update(json.loads(saved.read_text()))
        return env, None
    shutil.rmtree(home, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    common.PG_URL = PG_URL
    tempfile.tempdir = str(base)  # fresh_environment's var dir goes under var/bench/portal/
    try:
        env = fresh_environment(engine)
    finally:
        tempfile.tempdir = None
    Path(env["ALLOTMENT_VAR_DIR"]).rename(home)
    env["ALLOTMENT_VAR_DIR"] = str(home)
    out = _child("build", env)
    keep = {k: env[k] for k in ("ALLOTMENT_VAR_DIR", "DATABASE_URL") if k in env}
    saved.write_text(json.dumps(keep))
    return env, out


def _child(stage: str, env: dict[str, str], *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", stage, *extra],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"{stage} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


LUA = """
local paths = {%(paths)s}
local counter = 0
bad = 0  -- a global: done() reads it from each thread
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer %(token)s"
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("BENCH non2xx %%d\\n", total))
end
"""


def api_paths(info: dict) -> list[str]:
    pid = info["pid"]
    return [
        "/api/projects/?limit=20",
        f"/api/projects/{pid}/",
        "/api/people/?limit=20",
        f"/api/allocation-pools/?project={pid}",
        f"/api/memberships/?project={pid}",
        f"/api/usage/report/?project={pid}&by=month",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unit_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


GUNICORN_CONF = """
import os


def post_worker_init(worker):
    # What settings.py would say with dj_database_url.parse(..., conn_max_age=N): the
    # database connection outlives the request. The dict is the one connections read.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_CONN_MAX_AGE"])
"""


def _cpu_seconds(master: int) -> float:
    """CPU time (user + system) of a process's children so far: gunicorn's workers."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # fields[0] is the state; [1] the parent; [11:13] times
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def api(
    env: dict[str, str], info: dict, args: argparse.Namespace, work: Path, conn_max_age: int | None
) -> dict:
    """Requests per second and latency of the read API under wrk, per viewer. With
    `conn_max_age`, the workers keep database connections that long (settings.py as it is
    opens one per request)."""
    import urllib.request

    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    if not Path(wrk).exists():
        sys.exit("wrk is missing: apt-get install wrk")
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = open(work / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    command = [gunicorn, "allotment.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
               "--worker-class", args.worker_class, "--log-level", "warning"]  # fmt: skip
    if args.worker_class == "gthread":  # threads keep wrk's connections alive; sync closes them
        command += ["--threads", str(args.worker_threads)]
    if conn_max_age is not None:
        conf = work / "gunicorn_conf.py"
        conf.write_text(GUNICORN_CONF)
        command += ["-c", str(conf)]
        env = {**env, "BENCH_CONN_MAX_AGE": str(conn_max_age)}
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"gunicorn exited; see {work / 'gunicorn.log'}")
                time.sleep(0.1)
        paths = api_paths(info)
        for role in ("admin", "member"):
            token = info["tokens"][role]
            for path in paths:  # each endpoint answers 200 (and every worker warms up)
                for _ in range(args.workers):
                    request = urllib.request.Request(
                        base + path, headers={"Authorization": f"Bearer {token}"}
                    )
                    with urllib.request.urlopen(request, timeout=30) as response:
                        if response.status != 200:
                            sys.exit(f"{role}: GET {path} answered {response.status}")
            script = work / f"api-{role}.lua"
            script.write_text(LUA % {
                "paths": ", ".join(json.dumps(p) for p in paths), "token": token,
            })  # fmt: skip
            load = os.getloadavg()[0]
            cpu = _cpu_seconds(server.pid)
            run = subprocess.run(
                [wrk, "-t", str(args.threads), "-c", str(args.connections),
                 "-d", f"{args.duration}s", "--latency", "-s", str(script), base],
                capture_output=True, text=True,
            )  # fmt: skip
            out = run.stdout
            cpu = _cpu_seconds(server.pid) - cpu
            if run.returncode != 0:
                sys.exit(f"{role}: wrk failed ({run.returncode})\n{out}\n{run.stderr}")
            (work / f"wrk-{role}.txt").write_text(out)
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            p99 = _unit_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
            p50 = _unit_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
            bad = int(re.search(r"BENCH non2xx (\d+)", out).group(1))
            errors = re.search(r"Socket errors: (.*)", out)
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            bad = max(bad, int(non2xx.group(1)) if non2xx else 0)
            if bad or errors:
                sys.exit(
                    f"{role}: {bad} non-2xx answers"
                    f"{'; socket errors: ' + errors.group(1) if errors else ''}\n{out}"
                )
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            cpu_ms = cpu * 1000 / requests
            results[role] = {"rps": rps, "p50": p50, "p99": p99, "load": load, "cpu_ms": cpu_ms}
            print(f"  api {role} conn_max_age={conn_max_age}: {rps:.0f} req/s, p99 {p99:.1f} ms, "
                  f"{cpu_ms:.2f} ms of worker CPU a request (load {load:.2f})",
                  flush=True)  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    return results


# --- main


def _drop(env: dict[str, str]) -> None:
    if "DATABASE_URL" not in env:
        return
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(env["DATABASE_URL"])
    with psycopg.connect(
        host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
        autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the databases built")
    parser.add_argument(
        "--reuse", nargs="?", const=str(BASE), metavar="DIR",
        help=f"measure the databases kept in DIR (default {BASE}), building missing ones",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over each page's URLs")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--worker-threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per viewer")
    parser.add_argument(
        "--conn-max-age", default="-", metavar="LIST",
        help="API runs, one per value: - is settings.py as it is (a connection per request); "
        "a number of seconds keeps connections that long (what settings.py could say)",
    )  # fmt: skip
    parser.add_argument("--skip-api", action="store_true", help="measure the pages only")
    parser.add_argument("--skip-pages", action="store_true", help="measure the API only")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "build":
        return build()
    if args.stage == "setup":
        return setup()
    if args.stage == "pages":
        return pages(args.info, args.repeat)

    base = Path(args.reuse) if args.reuse else BASE
    figures = {}
    failed = False
    for engine in args.engines.split(","):
        if engine == "postgresql" and not postgres_answers():
            print("postgresql: no server answers; skipped")
            continue
        env, built = prepare(engine, base, reuse=bool(args.reuse))
        try:
            info = _child("setup", env)
            how = f"built in {built['build_s']:.0f} s" if built else f"reused {base / engine}"
            print(
                f"{engine}: {info['jobs']:,} jobs ({how}); busiest project {info['pid']} "
                f"({info['busy_jobs']:,} jobs); viewers {info['viewers']}",
                flush=True,
            )
            row: dict = {"load_pages": _load()}
            if not args.skip_pages:
                row["pages"] = _child(
                    "pages", env, "--info", json.dumps(info), "--repeat", str(args.repeat)
                )
            row["load_api"] = _load()
            if not args.skip_api:
                row["api"] = {
                    age: api(env, info, args, base / engine, None if age == "-" else int(age))
                    for age in args.conn_max_age.split(",")
                }
            figures[engine] = row
        finally:
            if not (args.keep or args.reuse):
                _drop(env)
                shutil.rmtree(base / engine, ignore_errors=True)
    failed = report(figures)
    if failed:
        sys.exit(1)


def report(figures: dict) -> bool:
    """Print the table; True if a target is missed."""
    missed = False
    print()
    print(f"{'engine':<11} {'viewer':<7} {'page':<9} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8}  load (1/5/15 min)")  # fmt: skip
    for engine, row in figures.items():
        for role, pages in row.get("pages", {}).items():
            for page, r in pages.items():
                flag = "" if r["p95"] <= PAGE_TARGET_MS else "  MISSED"
                missed |= bool(flag)
                print(f"{engine:<11} {role:<7} {page:<9} {r['n']:>3} {r['p50']:>8.1f} "
                      f"{r['p95']:>8.1f} {r['max']:>8.1f}  {row['load_pages']}{flag}")  # fmt: skip
    print(f"target: p95 <= {PAGE_TARGET_MS} ms")
    print()
    print(f"{'engine':<11} {'CONN_MAX_AGE':<13} {'token':<7} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'CPU ms':>7} {'2 cores':>8}  load (1 min)")  # fmt: skip
    for engine, row in figures.items():
        for age, runs in row.get("api", {}).items():
            for role, r in runs.items():
                ok = r["rps"] >= API_TARGET_RPS and r["p99"] <= API_TARGET_P99_MS
                missed |= not ok
                print(f"{engine:<11} {'settings' if age == '-' else age:<13} {role:<7} "
                      f"{r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                      f"{r['cpu_ms']:>7.2f} {2000 / r['cpu_ms']:>8.0f}  "
                      f"{r['load']:.2f}{'' if ok else '  MISSED'}")  # fmt: skip
    print(f"target: >= {API_TARGET_RPS} req/s, p99 <= {API_TARGET_P99_MS} ms; every answer 2xx")
    print("CPU ms: gunicorn workers' CPU time per request (the database server's not included); "
          "2 cores: 2000 / that, the req/s two idle cores would serve")  # fmt: skip
    return missed


if __name__ == "__main__":
    main()
