"""Shared by the benchmarks: where generated data lives, and fresh databases to measure on.

Nothing here is committed output: rendered traces and databases go to var/bench/.
"""

import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = Path(os.environ.get("ALLOTMENT_TRACES", ROOT.parent / "shared" / "traces"))
OUT = ROOT / "var" / "bench"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/allotment_bench")


def trace(name: str) -> Path:
    path = TRACES / name
    if not path.exists():
        sys.exit(f"{path} is missing; set ALLOTMENT_TRACES to the folder of the SWF traces.")
    return path


def swf_header(path: Path) -> dict[str, str]:
    header = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            if not line.startswith(";"):
                break
            if ":" in line:
                key, _, value = line[1:].partition(":")
                header[key.strip()] = value.strip()
    return header


def fresh_environment(engine: str) -> dict[str, str]:
    """Environment for a child process on an empty, migrated database."""
    env = dict(os.environ)
    env["ALLOTMENT_VAR_DIR"] = tempfile.mkdtemp(prefix="allot-bench-")
    env.pop("DATABASE_URL", None)
    if engine == "postgresql":
        import dj_database_url
        import psycopg

        cfg = dj_database_url.parse(PG_URL)
        with psycopg.connect(
            host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
            autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
        env["DATABASE_URL"] = PG_URL
    allot = Path(sys.executable).with_name("allot")
    subprocess.run([allot, "migrate", "-v0", "--noinput"], env=env, check=True)
    return env


def postgres_answers() -> bool:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(PG_URL)
    try:
        psycopg.connect(
            host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
            connect_timeout=3,
        ).close()  # fmt: skip
    except psycopg.Error:
        return False
    return True
