"""scripts/run-tests runs both databases whatever the first gives, and sums them up.

It once stopped at a SQLite failure (set -e) without running PostgreSQL or saying so. The
tests run it with a stand-in pytest (exit codes chosen per database) and a stand-in for
the PostgreSQL probe, so nothing of the real suite runs.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run-tests"
PG_URL = "postgres://postgres@127.0.0.1:5999/allotment"


@pytest.fixture
def fake_bin(tmp_path):
    """A bin/ whose pytest logs its database and exits $SQLITE_RC or $PG_RC, and whose
    python answers the PostgreSQL probe with $PG_DOWN (0: a server answers)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "pytest").write_text(
        "#!/bin/sh\n"
        'echo "pytest db=${DATABASE_URL:-sqlite} args=$*" >> "$FAKE_LOG"\n'
        'if [ -z "${DATABASE_URL:-}" ]; then exit "$SQLITE_RC"; else exit "$PG_RC"; fi\n'
    )
    (bin_ / "python").write_text('#!/bin/sh\ncat > /dev/null\nexit "${PG_DOWN:-0}"\n')
    for tool in bin_.iterdir():
        tool.chmod(0o755)
    return bin_


def run_tests(fake_bin, tmp_path, *, sqlite_rc=0, pg_rc=0, pg_down=0, require_pg=False):
    log = tmp_path / "pytest.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "ALLOTMENT_REQUIRE_POSTGRES")
    }
    env.update(
        ALLOTMENT_BIN=str(fake_bin), FAKE_LOG=str(log), SQLITE_RC=str(sqlite_rc),
        PG_RC=str(pg_rc), PG_DOWN=str(pg_down), DATABASE_URL=PG_URL,
        ALLOTMENT_REQUIRE_POSTGRES="1" if require_pg else "0",
    )  # fmt: skip
    done = subprocess.run(
        [str(SCRIPT), "-k", "x"], env=env, capture_output=True, text=True, timeout=60
    )
    runs = log.read_text().splitlines() if log.exists() else []
    summary = (
        done.stdout.split("=== summary ===\n", 1)[1] if "=== summary ===" in done.stdout else ""
    )
    return done.returncode, runs, summary.splitlines()


def test_a_sqlite_failure_still_runs_postgresql_and_fails_at_the_end(fake_bin, tmp_path):
    code, runs, summary = run_tests(fake_bin, tmp_path, sqlite_rc=1, pg_rc=0)
    assert code == 1
    assert runs == ["pytest db=sqlite args=-q -k x", f"pytest db={PG_URL} args=-q -k x"]
    assert summary == ["SQLite: FAILED (pytest exit 1)", f"PostgreSQL ({PG_URL}): passed"]


def test_both_passing_exits_zero_with_both_lines(fake_bin, tmp_path):
    code, runs, summary = run_tests(fake_bin, tmp_path)
    assert (code, len(runs)) == (0, 2)
    assert summary == ["SQLite: passed", f"PostgreSQL ({PG_URL}): passed"]


def test_a_postgresql_failure_fails_the_run(fake_bin, tmp_path):
    code, _, summary = run_tests(fake_bin, tmp_path, pg_rc=1)
    assert code == 1
    assert summary == ["SQLite: passed", f"PostgreSQL ({PG_URL}): FAILED (pytest exit 1)"]


def test_no_postgresql_is_said_in_the_summary_and_fails_only_when_required(fake_bin, tmp_path):
    code, runs, summary = run_tests(fake_bin, tmp_path, pg_down=1)
    assert (code, runs) == (0, ["pytest db=sqlite args=-q -k x"])
    assert summary == ["SQLite: passed", f"PostgreSQL ({PG_URL}): NOT RUN (no server answered)"]
    code, _, summary = run_tests(fake_bin, tmp_path, pg_down=1, require_pg=True)
    assert code == 1
    assert summary[-1] == (
        f"PostgreSQL ({PG_URL}): FAILED (no server answered; ALLOTMENT_REQUIRE_POSTGRES=1)"
    )


def test_an_interrupted_sqlite_run_does_not_start_postgresql(fake_bin, tmp_path):
    code, runs, summary = run_tests(fake_bin, tmp_path, sqlite_rc=2)
    assert (code, runs) == (1, ["pytest db=sqlite args=-q -k x"])
    assert summary == [
        "SQLite: FAILED (pytest exit 2)",
        "PostgreSQL: not run (the SQLite run was interrupted or misused: exit 2)",
    ]
