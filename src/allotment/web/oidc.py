"""Sign-in through the site's OpenID Connect provider, for people already in the ledger.

The ledger is the list of who may use the site: a person comes to exist by an approved
application or an administrator, never by signing in. So the provider's answer is only
matched against existing people (by `preferred_username`, the institution's login name,
else by e-mail), and locked or inactive people are refused just as the password backend
refuses them.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class LedgerOIDCBackend(OIDCAuthenticationBackend):
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
        if email:
            return people.filter(email__iexact=email)
        return people.none()

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

    def user_can_authenticate(self, user) -> bool:
        return getattr(user, "is_active", False) and not getattr(user, "is_locked", False)
