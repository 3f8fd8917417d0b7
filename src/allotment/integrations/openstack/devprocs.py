"""Moved to allotment.integrations.devrun, shared by every loopback engine; these names stay
for the tests that still import them from here."""

from allotment.integrations.devrun import load, running, started_at

__all__ = ["load", "running", "started_at"]
