"""Keeping PostgreSQL's prepared statements to the queries they help.

settings.py lets psycopg prepare any statement a connection runs twice (server-side
binding): PostgreSQL then parses it once, and after five runs may plan it once too, with
a generic plan that ignores the parameters' values. That is what a token lookup or a page
of members wants. An aggregate over a million rows wants a plan for its own date range
and project, and spends milliseconds where planning costs tenths of one.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def planned_each_time() -> Iterator[None]:
    """Statements run inside are sent unprepared, so each gets a plan of its own."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    before = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        yield
    finally:
        raw.prepare_threshold = before
