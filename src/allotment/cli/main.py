"""The `allot` command: Allotment's CLI and Django's management entry point in one."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["allot", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
