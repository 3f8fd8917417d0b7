"""Authentication that honours the ledger's own flags."""

from django.contrib.auth.backends import ModelBackend


class PersonBackend(ModelBackend):
    """Django's password backend, except that locked people, and people past their expiry
    date (treated as locked), cannot sign in; a session of theirs counts for nothing, since
    Django asks the same question of the session's user on every request."""

    def user_can_authenticate(self, user) -> bool:
        return (
            super().user_can_authenticate(user)
            and not getattr(user, "is_locked", False)
            and not getattr(user, "has_expired", False)
        )
