"""One way to keep a secret link or API token: only its hash is stored.

The secrets are random (secrets.token_urlsafe), so a plain SHA-256 suffices: there is
nothing to guess that a slow hash would protect."""

import hashlib


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
