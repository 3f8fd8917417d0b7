"""Reading the mail the workflows sent (django's locmem outbox in tests)."""

import re

from django.core import mail


def mail_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def recipients() -> list[str]:
    return sorted(r for m in mail.outbox for r in m.to)


def link_token(text: str) -> str:
    """The token of the invitation link in an email's body (or a command's output)."""
    match = re.search(r"/apply/invitation/([A-Za-z0-9_-]+)/", text)
    assert match, f"no invitation link in:\n{text}"
    return match.group(1)
