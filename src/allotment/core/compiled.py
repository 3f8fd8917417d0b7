"""Querysets compiled to SQL once, for the few queries every API request runs.

Django turns a queryset into SQL each time it is evaluated. For the token lookup and the
caller's memberships, which every API request runs, that compiling cost more worker time
than the database took to answer (a fifth of a small request): here the SQL is built once
per database by the ORM itself, from an ordinary queryset, and later calls only swap in
their parameter values. Rows become objects the way Django's ModelIterable makes them
(the backend's converters, then from_db and the select_related populators), so the
objects are the ones the queryset would have given.

Only querysets whose parameters are fixed in number fit (no `__in` with a list of
varying length): each named parameter must appear exactly once among the compiled SQL's
parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


class CompiledQuery:
    """`build(**markers)` compiled once per database alias; `.objects(**values)` and
    `.rows(**values)` run it with `values` in place of the markers.

    Markers are sample values of each parameter's type that occur nowhere else in the
    query (a negative id, a string no one would store)."""

    def __init__(self, build: Callable[..., QuerySet], **markers: Any):
        self.build = build
        self.markers = markers
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> tuple:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                queryset = self.build(**self.markers).using(alias)
                compiler = queryset.query.get_compiler(using=alias)
                sql, params = compiler.as_sql()
                positions = {}
                for name, marker in self.markers.items():
                    found = [i for i, value in enumerate(params) if value == marker]
                    if len(found) != 1:
                        raise ValueError(
                            f"Parameter {name!r} appears {len(found)} times in the compiled "
                            f"query, not once: choose a marker value that occurs nowhere else."
                        )
                    positions[name] = found[0]
                fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
                converters = compiler.get_converters(fields)
                compiled = (compiler, sql, tuple(params), positions, converters)
                self._compiled[alias] = compiled
        return compiled

    def _execute(self, alias: str, values: dict[str, Any]) -> tuple[Any, list]:
        compiler, sql, params, positions, converters = self._compile(alias)
        if values.keys() != positions.keys():
            raise TypeError(f"Give exactly these parameters: {', '.join(sorted(positions))}.")
        bound = list(params)
        for name, value in values.items():
            bound[positions[name]] = value
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        return compiler, rows

    def rows(self, *, using: str = "default", **values: Any) -> list[tuple]:
        """The rows of a values_list() queryset, as tuples."""
        return [tuple(row) for row in self._execute(using, values)[1]]

    def objects(self, *, using: str = "default", **values: Any) -> list[Model]:
        """The model instances of a queryset, with their select_related objects."""
        compiler, rows = self._execute(using, values)
        if compiler.annotation_col_map:
            raise TypeError("objects() does not set annotations: use rows() with values_list().")
        select, klass_info = compiler.select, compiler.klass_info
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, using)
        found = []
        for row in rows:
            obj = model.from_db(using, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            found.append(obj)
        return found
