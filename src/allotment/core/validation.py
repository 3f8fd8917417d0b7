"""One path for writes, so the admin, the API and the CLI enforce the same rules.

Every rule is a model's clean() (or a field validator or constraint); services call
save_validated() and the admin's forms call full_clean() themselves. The messages are
therefore identical everywhere.
"""

from collections.abc import Iterable
from typing import Any

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


def apply_changes(obj: models.Model, allowed: tuple[str, ...], changes: dict[str, Any]):
    """Set only the fields named in `changes`, then validate and save (audited as one
    update); a field outside `allowed` is a programming error, not a user's."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no settable field(s) {sorted(unknown)}")
    for field, value in changes.items():
        setattr(obj, field, value)
    return save_validated(obj)


def refuse_taken_name(model: type[models.Model], noun: str, name: str, obj=None) -> None:
    """Refuse a taken name in words naming the object (Django's own message names only the
    model and field)."""
    taken = model.objects.filter(name=name)
    if obj is not None and obj.pk is not None:
        taken = taken.exclude(pk=obj.pk)
    if taken.exists():
        article = "an" if noun[0] in "aeiou" else "a"
        raise ValidationError({"name": f'There is already {article} {noun} named "{name}".'})


def get_named(queryset, noun: str, name: str):
    """The object of this name, or a ValidationError saying there is none, in words."""
    found = queryset.filter(name=name).first()
    if found is None:
        raise ValidationError(f'There is no {noun} "{name}".')
    return found
