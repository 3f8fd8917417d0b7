"""Unix names and ids: the shapes accounts and groups must have to exist on a cluster."""

from django.core.validators import RegexValidator

# POSIX-portable names as useradd/groupadd accept them by default, at most 32 characters.
# \A and \Z, not ^ and $: `$` also matches before a trailing "\n", and a name ending in a
# line break would split every file a batch system is fed (sacctmgr's load file, /etc/group).
UNIX_NAME_RE = r"\A[a-z_][a-z0-9_-]{0,30}\$?\Z"
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


# A machine's name is what imports (`--machine`), quarantined records and engine options
# refer to it by: one word, as a host or cluster name would be, never whitespace or a line
# break that would split a file or a command line built from it.
MACHINE_NAME_RE = r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z"
machine_name_validator = RegexValidator(
    MACHINE_NAME_RE,
    "Enter a valid machine name: letters, digits, '_', '.' or '-', starting with a letter or "
    "digit, at most 100 characters.",
)
