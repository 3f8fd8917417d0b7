"""Sign-in through the site's OpenID Connect provider, for people already in the ledger.

The ledger is the list of who may use the site: a person comes to exist by an approved
application or an administrator, never by signing in. So the provider's answer is only
matched against existing people (by `preferred_username`, the institution's login name,
else by e-mail), and locked, inactive or expired people are refused just as the password
backend refuses them.

The e-mail is a weaker key than the username: whoever can put an address on a record, or
get a provider to assert one it never checked, would sign in as that record. So it counts
only when the provider says it verified the address (`email_verified`), the ledger's copy
is verified too (Person.email_verified), exactly one person holds it, and the site has not
turned the fallback off (ALLOTMENT_OIDC_EMAIL_FALLBACK=0). Addresses are compared in
their canonical form (people.addresses), never by the database's Unicode case folding, so
a lookalike address ("un\u0131versity" with a dotless i) is another address; a claimed
email that has no canonical form matches nobody.

A session opened here is checked again on every request (get_user), as PersonBackend's
is: locking a person, or their expiry date passing, ends it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from allotment.people import addresses

log = logging.getLogger(__name__)


def provider_verified(claims: dict) -> bool:
    """The standard claim is a JSON boolean; some providers (Cognito) send the string."""
    verified = claims.get("email_verified")
    return verified is True or (isinstance(verified, str) and verified.lower() == "true")


class LedgerOIDCBackend(OIDCAuthenticationBackend):
    def _refuse(self, reason: str, *args) -> None:
        """Log why (for the administrators), and tell the person in general terms: the
        page must not reveal who else holds an address."""
        log.warning("OIDC sign-in refused: " + reason, *args)
        request = getattr(self, "request", None)
        if request is not None:
            messages.error(
                request,
                "Your institution's sign-in did not match one person here by username or by a "
                "verified email. Sign in with your password and confirm your email under "
                "Your email, or ask the site's administrators.",
                fail_silently=True,
            )

    def verify_claims(self, claims: dict) -> bool:
        """Either claim identifies a person; the default insists on an e-mail."""
        return bool(claims.get("preferred_username") or claims.get("email"))

    def filter_users_by_claims(self, claims: dict) -> QuerySet:
        people = get_user_model().objects
        username = (claims.get("preferred_username") or "").strip()
        if username:
            found = people.filter(username=username)
            if found.exists():
                return found
        email = (claims.get("email") or "").strip()
        if not email or not settings.ALLOTMENT_OIDC_EMAIL_FALLBACK:
            return people.none()
        who = username or "no preferred_username"
        if not provider_verified(claims):
            self._refuse(
                "the provider did not verify the email %s (claimed by %s), and only a "
                "verified email may stand for a person.",
                email,
                who,
            )
            return people.none()
        if addresses.key(email) is None:
            self._refuse(
                "the email %s (claimed by %s) is not an address the ledger can hold (a "
                "non-ASCII mailbox name, or a domain IDNA cannot encode).",
                email,
                who,
            )
            return people.none()
        holders = list(
            addresses.matching(people.all(), email)
            .order_by("username")
            .values_list("username", "email_verified")
        )
        if len(holders) > 1:
            # Two records with one address: the provider cannot tell us which is meant.
            self._refuse(
                "the email %s (claimed by %s) belongs to %d people (%s); set their "
                "preferred_username as their ledger username.",
                email,
                who,
                len(holders),
                ", ".join(name for name, _ in holders),
            )
            return people.none()
        if holders and not holders[0][1]:
            self._refuse(
                "%s's email %s (claimed by %s) is not verified in the ledger; they confirm "
                "it at /me/email/ or a site administrator sets it.",
                holders[0][0],
                email,
                who,
            )
            return people.none()
        # The one holder found above, verified: no second lookup of the address.
        return people.filter(username=holders[0][0]) if holders else people.none()

    def create_user(self, claims: dict):
        """Never: an unknown identity does not become a person by signing in."""
        return None

    def update_user(self, user, claims: dict):
        """The ledger's record of a person is edited in the ledger, not by the provider."""
        return user

    def get_or_create_user(self, access_token, id_token, payload):
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is None or not self.user_can_authenticate(user):
            return None
        return user

    def get_user(self, user_id):
        """The person a session names, on every request: None (signed out) once they are
        locked, inactive or expired. mozilla_django_oidc's returns them whatever their
        state, so a session opened here would outlive a lock (the admin site included)."""
        user = super().get_user(user_id)
        if user is None or not self.user_can_authenticate(user):
            return None
        return user

    def user_can_authenticate(self, user) -> bool:
        return (
            getattr(user, "is_active", False)
            and not getattr(user, "is_locked", False)
            and not getattr(user, "has_expired", False)
        )
