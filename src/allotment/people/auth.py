"""Authentication that honours the ledger's own flags."""

from django.contrib.auth.backends import ModelBackend


class PersonBackend(ModelBackend):
    """Django's password backend, except that locked people cannot sign in."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_locked", False)
