"""Issuing, finding and revoking API tokens; shared by the `allot token` CLI and the API."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from allotment.core.compiled import CompiledQuery
from allotment.core.tokens import hash_token
from allotment.core.validation import save_validated

from .models import ApiToken

# last_used is written at most this often per token, so a busy script costs no write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Issued:
    """A new token: `token` is the only copy of the secret there will ever be."""

    token: str
    record: ApiToken


def issue(person, *, name: str = "", expires_days: int | None = None) -> Issued:
    """Create a token for `person`; the caller shows `Issued.token` once."""
    if expires_days is not None and expires_days < 1:
        raise ValidationError({"expires": "A token must last at least one day."})
    while True:
        prefix = secrets.token_hex(4)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    token = f"{prefix}.{secrets.token_urlsafe(32)}"
    record = ApiToken(
        person=person,
        name=name,
        prefix=prefix,
        secret_hash=hash_token(token),
        expires=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    save_validated(record)
    return Issued(token=token, record=record)


# Every API request looks its token up: compiled once (core.compiled). Prefixes are unique,
# so no ORDER BY (the model's ordering would join people for it).
_BY_PREFIX = CompiledQuery(
    lambda prefix: ApiToken.objects.select_related("person").filter(prefix=prefix).order_by()[:1],
    prefix="(a prefix)",
)


def find(token: str) -> ApiToken | None:
    """The token row whose secret this is, whatever its state; None if there is none."""
    prefix, dot, _ = token.partition(".")
    if not dot or not prefix or len(prefix) > 16:
        return None
    record = next(iter(_BY_PREFIX.objects(prefix=prefix)), None)
    if record is None or not hmac.compare_digest(record.secret_hash, hash_token(token)):
        return None
    return record


def touch(record: ApiToken) -> None:
    """Note that the token was used: a plain UPDATE (no audit entry), once a minute at most."""
    now = timezone.now()
    if record.last_used is None or now - record.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used=now)
        record.last_used = now


def revoke(prefix: str) -> ApiToken:
    record = ApiToken.objects.select_related("person").filter(prefix=prefix).first()
    if record is None:
        raise ValidationError(f'There is no API token "{prefix}".')
    if not record.revoked:
        record.revoked = True
        save_validated(record)
    return record


def tokens_of(username: str | None = None) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("person").order_by("person__username", "-created")
    if username:
        from allotment.people.models import Person

        if not Person.objects.filter(username=username).exists():
            raise ValidationError(f'There is no person "{username}".')
        tokens = tokens.filter(person__username=username)
    return tokens


def as_dict(record: ApiToken) -> dict:
    return {
        "prefix": record.prefix,
        "person": record.person.username,
        "name": record.name,
        "created": record.created.isoformat(),
        "last_used": record.last_used.isoformat() if record.last_used else None,
        "expires": record.expires.isoformat() if record.expires else None,
        "status": record.status,
    }
