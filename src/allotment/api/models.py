"""API tokens: the secret is shown once and only its SHA-256 hash is kept.

A token reads `<prefix>.<secret>`. The prefix is not secret: it finds the row in one
indexed lookup and names the token in `allot token list` and `revoke`, so nobody ever
needs to handle the secret again after creating it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(
        max_length=16, unique=True, help_text="The token's first part; not secret."
    )
    secret_hash = models.CharField(
        "SHA-256 of the token", max_length=64, help_text="The token itself is never stored."
    )
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["person__username", "-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        label = f" ({self.name})" if self.name else ""
        return f"{self.prefix}{label} of {self.person.username}"

    def is_expired(self, now=None) -> bool:
        return self.expires is not None and self.expires <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.revoked:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"
