"""Allotment: the control plane for research computing sites."""

__version__ = "0.1.0"
