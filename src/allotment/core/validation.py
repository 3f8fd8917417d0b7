"""One path for writes, so the admin, the API and the CLI enforce the same rules.

Every rule is a model's clean() (or a field validator or constraint); services call
save_validated() and the admin's forms call full_clean() themselves. The messages are
therefore identical everywhere.
"""

from collections.abc import Iterable

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction


def save_validated(obj: models.Model, *, exclude: Iterable[str] | None = None) -> models.Model:
    """Validate every rule of `obj`, then save it; raise ValidationError and write nothing."""
    with transaction.atomic():
        obj.full_clean(exclude=exclude)
        obj.save()
    return obj


def error_messages(error: ValidationError) -> list[str]:
    """Flatten a ValidationError into lines of the form 'field: message'."""
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    lines = []
    for field, errors in error.message_dict.items():
        for message in errors:
            lines.append(message if field == NON_FIELD_ERRORS else f"{field}: {message}")
    return lines
