"""Unix names and ids: the shapes accounts and groups must have to exist on a cluster."""

from django.core.validators import RegexValidator

# POSIX-portable names as useradd/groupadd accept them by default, at most 32 characters.
UNIX_NAME_RE = r"^[a-z_][a-z0-9_-]{0,30}\$?$"
unix_name_validator = RegexValidator(
    UNIX_NAME_RE,
    "Enter a valid unix name: lower-case letters, digits, '_' or '-', starting with a letter "
    "or '_', at most 32 characters.",
)


def unix_name_from(text: str) -> str:
    """A unix name derived from free text such as a project id (ProjectA -> projecta)."""
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in text.lower())
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = "g" + name
    return name[:32]
