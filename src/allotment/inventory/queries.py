"""Read-side helpers shared by the CLI, the API and the pages."""

from __future__ import annotations

from django.db import connections
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from .models import Node


def with_tag(nodes: QuerySet[Node], tag: str) -> QuerySet[Node]:
    """Nodes whose tags list holds exactly `tag`: JSON containment where the database has
    it (PostgreSQL, which an index can serve), else one json_each probe per row (SQLite)."""
    if connections[nodes.db].features.supports_json_field_contains:
        return nodes.filter(tags__contains=[tag])
    table = Node._meta.db_table
    holds = RawSQL(
        f'EXISTS (SELECT 1 FROM json_each("{table}"."tags") WHERE json_each.value = %s)',
        [tag],
        output_field=BooleanField(),
    )
    return nodes.alias(_holds_tag=holds).filter(_holds_tag=True)
