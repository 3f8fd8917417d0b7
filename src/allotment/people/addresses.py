"""One canonical form of an email address, and the one way to find rows by address.

An address finds a person's invitations and signs them in through the institution, so two
addresses must count as the same only when mail to them reaches the same mailbox. The
database's case-insensitive match cannot decide that: PostgreSQL runs `email__iexact` as
UPPER(a) = UPPER(b) with Unicode case mapping, where the dotless i (U+0131) uppercases to
I, the long s (U+017F) to S, and the Kelvin sign (U+212A) lowercases to k. So
"dean@un\u0131versity.example.org" (a different domain, one anybody may register) matched
"dean@university.example.org".

The canonical form: surrounding blanks stripped; the local part ASCII (a non-ASCII one is
refused: its case folding is the hole above, and the site's mail is not known to deliver
it); the domain as IDNA ASCII (punycode), lower case. IDNA's own mapping (UTS #46) turns
the long s and the Kelvin sign into s and k: that is the same DNS name, where the mail
goes, so those are the same address; the dotless i is a letter of its own and stays
another domain. Two addresses are the same when their canonical forms are equal ignoring
ASCII case (the local part is stored as typed; mail systems ignore its case in practice).
Lookups narrow in SQL, then keep only the rows whose canonical form is the one asked for,
so a legacy row stored in another form can neither match by Unicode case folding nor be
missed.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

try:  # IDNA 2008 with the UTS #46 mapping, as browsers and resolvers now use
    import idna as _idna
except ImportError:  # pragma: no cover - requests (via mozilla-django-oidc) brings it
    _idna = None


def _ascii_domain(domain: str, address: str, field: str) -> str:
    if domain.isascii():
        return domain.lower()
    try:
        if _idna is not None:
            encoded = _idna.encode(domain, uts46=True).decode("ascii")
        else:
            encoded = domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise ValidationError(
            {field: f'"{address}" has a domain that is not a valid internationalised name.'}
        ) from None
    return encoded.lower()


def canonical(address: str | None, field: str = "email") -> str:
    """The address in canonical form ("" for none); a ValidationError naming `field` when
    it has none (a non-ASCII local part, a domain IDNA cannot encode)."""
    address = (address or "").strip()
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    if not local.isascii():
        raise ValidationError(
            {
                field: f'"{address}" has letters outside ASCII before the "@"; give the '
                "address with an ASCII mailbox name."
            }
        )
    if not at:
        return address  # not an address at all: validate_email says so where it matters
    return f"{local}@{_ascii_domain(domain, address, field)}"


def key(address: str | None) -> str | None:
    """What two addresses are compared by: the canonical form, ASCII-lower-cased (it is
    ASCII). None for no address, or one that has no canonical form: it matches nothing."""
    try:
        found = canonical(address)
    except ValidationError:
        return None
    return found.lower() or None


def same(a: str | None, b: str | None) -> bool:
    """Whether the two are one address (two blanks, or a blank and anything, are not)."""
    first = key(a)
    return first is not None and first == key(b)


def matching(rows: QuerySet, address: str | None, field: str = "email") -> QuerySet:
    """The rows whose `field` is the same address as `address`, still a queryset.

    SQL narrows by the local part (any case, any spelling of the domain); Python keeps the
    rows whose canonical form is exactly the one asked for."""
    wanted = key(address)
    if wanted is None:
        return rows.none()
    local, at, _ = wanted.rpartition("@")
    narrowed = (
        rows.filter(**{f"{field}__istartswith": f"{local}@"})
        if at
        else rows.filter(**{f"{field}__iexact": wanted})
    )
    keep = [pk for pk, value in narrowed.values_list("pk", field) if key(value) == wanted]
    return rows.filter(pk__in=keep)
