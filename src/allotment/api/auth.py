"""`Authorization: Bearer TOKEN`: scripts authenticate with an API token.

Refusals say why (unknown, revoked, expired token; locked, inactive or expired person) in a 401
JSON body, so a script's author can tell a typo from a revoked token.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from . import tokens


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session (or nothing) decides
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                'Give the token as "Authorization: Bearer TOKEN", with no spaces in the token.'
            )
        try:
            token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid text.") from None
        return self.authenticate_token(token)

    def authenticate_token(self, token: str):
        record = tokens.find(token)
        if record is None:
            raise exceptions.AuthenticationFailed("Unknown API token.")
        if record.revoked:
            raise exceptions.AuthenticationFailed(f'API token "{record.prefix}" was revoked.')
        if record.is_expired():
            raise exceptions.AuthenticationFailed(
                f'API token "{record.prefix}" expired on {record.expires:%Y-%m-%d %H:%M} UTC.'
            )
        person = record.person
        if not person.is_active or person.is_locked:
            state = "locked" if person.is_locked else "inactive"
            raise exceptions.AuthenticationFailed(
                f'API token "{record.prefix}" belongs to {person.username}, who is {state}.'
            )
        if person.has_expired:  # treated as locked, without anyone having locked them
            raise exceptions.AuthenticationFailed(
                f'API token "{record.prefix}" belongs to {person.username}, whose account '
                f"expired on {person.expires:%Y-%m-%d}."
            )
        tokens.touch(record)
        return person, record

    def authenticate_header(self, request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how the token is sent, for the schema and the docs page."""

    target_class = "allotment.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from `allot token create USERNAME`.",
        }
