"""Set-based writes: the importers' and aggregator's only way to the database.

Rows go in as tuples through COPY on PostgreSQL and executemany on SQLite, never one ORM
save per row. Deletes are plain SQL so Django does not load rows to send signals.
"""

from collections.abc import Iterable, Iterator, Sequence

from django.db import connection


def chunks(seq: Sequence, size: int = 900) -> Iterator[Sequence]:
    """`seq` in slices of at most `size`: few enough parameters for SQLite's limit."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(rows))


def execute(sql: str, params: Sequence = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def executemany(sql: str, rows: list[Sequence]) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def select(sql: str, params: Sequence = (), chunk: int = 20000):
    """Stream rows of a query without building model instances."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            yield from rows
