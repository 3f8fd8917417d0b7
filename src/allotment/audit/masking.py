"""Secrets in the audit log: recorded as changed, never as any part of their value.

django-auditlog masks a field (AUDITLOG_MASK_TRACKING_FIELDS) by starring the first half of
its value, which for a password hash leaves the digest readable, and for a token's SHA-256
the half that a lookup by prefix would need. Whoever may read the log must learn only that
the secret changed. AUDITLOG_MASK_CALLABLE points here; the migration that scrubs entries
written before uses `scrub_changes`.
"""

from typing import Any

from django.conf import settings

MARK = "(changed)"

# What auditlog's own mask made of a field that had no value (str(None) half-starred).
_MASKED_NONE = ("None", "**ne")


def hide(value: str) -> str | None:
    """AUDITLOG_MASK_CALLABLE: a fixed marker for any value, None for no value.

    auditlog passes str(None) for the side of a create or delete that had no value; it is
    kept as null, so the log still tells a secret being set from one being replaced.
    """
    if value in _MASKED_NONE:
        return None
    if value == "":
        return ""
    return MARK


def secret_fields() -> tuple[str, ...]:
    return tuple(settings.AUDITLOG_MASK_TRACKING_FIELDS)


def scrub_changes(changes: Any) -> Any:
    """`changes` (a log entry's {field: [old, new]}) with every secret field's values hidden;
    the same object when there is nothing to hide."""
    if not isinstance(changes, dict):
        return changes
    secrets = [f for f in secret_fields() if f in changes]
    if not secrets:
        return changes
    scrubbed = dict(changes)
    for field in secrets:
        values = changes[field]
        if isinstance(values, list):
            scrubbed[field] = [v if v is None else hide(str(v)) for v in values]
    return scrubbed
