"""Reading what a job printed, from the one path its Submission recorded, safely as root.

The portal may run as root (the loopback site does) and the file lives in a directory the
job's user can write, so the user could put anything at that path. What is read:

- only `Submission.output_path`, written by jobs.services when the job was submitted
  (never a path from a request);
- opened with O_NOFOLLOW (a symbolic link in the last component is refused, not followed)
  and O_NONBLOCK (a FIFO cannot hang the request), then checked on the open descriptor
  (fstat: no race between check and read): a regular file, owned by the uid Slurm ran
  the job as;
- at most MAX_OUTPUT bytes, the end of the file (the cut is reported).

The job's uid is the portal host's name service's answer for the job's Slurm user
(`pwd.getpwnam(slurm_user)`): slurmd resolves that same name on the compute node, so this
holds where the portal host and the nodes share users (a single host, as the loopback
cluster, or one directory service). The ledger's Account.uid is not used: it is what the
ledger would provision, not proven to be what the hosts resolve (on the loopback cluster
useradd picks the uid). A user the portal host does not know means the output is not
visible from here.

Nothing here raises for a file that is missing, unreadable or refused: `Output.note` says
which, in words for the person, and `text` is None.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from dataclasses import dataclass, replace

MAX_OUTPUT = 64 * 1024
MAX_LINES = 100_000

NOT_VISIBLE = "The output is not visible from this host"
NOT_YET = "The job has not written output yet"


@dataclass(frozen=True)
class Output:
    """A job's output as read now: `text` (None when there is nothing to show, and `note`
    says why), whether it was `cut` to its end, and the file's `size` in bytes."""

    path: str
    text: str | None
    cut: bool = False
    size: int | None = None
    note: str = ""

    @property
    def shown(self) -> bool:
        return self.text is not None

    def tail(self, lines: int) -> Output:
        """Only the last `lines` lines of what was read."""
        if self.text is None:
            return self
        kept = self.text.splitlines(keepends=True)
        if len(kept) <= lines:
            return self
        return replace(self, text="".join(kept[-lines:]), cut=True)

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "available": self.shown,
            "text": self.text,
            "cut": self.cut,
            "size": self.size,
            "note": self.note,
        }


def read(path: str, slurm_user: str, stage: str = "running", limit: int = MAX_OUTPUT) -> Output:
    """The end of the job's output file at `path` if it is safe to show (module docstring).
    `stage` ("pending", "running" or "finished", as last seen) words a missing file: still
    to come, or (finished) somewhere this host cannot see."""
    if not path:
        return Output(path, None, note=f"{NOT_VISIBLE}: no output file was recorded for it.")
    try:
        uid = pwd.getpwnam(slurm_user).pw_uid
    except KeyError:
        return Output(path, None, note=f"{NOT_VISIBLE}: it does not know the user {slurm_user}.")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        return Output(path, None, note=_why_not(e, path, stage))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Output(path, None, note=f"{path} is not a regular file: not shown.")
        if info.st_uid != uid:
            return Output(
                path, None,
                note=f"{path} is not owned by {slurm_user}, whom the job ran as: not shown.",
            )  # fmt: skip
        start = max(0, info.st_size - limit)
        raw = os.pread(fd, limit, start)
    except OSError as e:
        return Output(path, None, note=f"{NOT_VISIBLE}: reading {path} failed ({e.strerror}).")
    finally:
        os.close(fd)
    cut = start > 0
    if cut:  # the cut may fall inside a UTF-8 character: begin at the next one
        skip = 0
        while skip < min(3, len(raw)) and 0x80 <= raw[skip] < 0xC0:
            skip += 1
        raw = raw[skip:]
    return Output(path, raw.decode(errors="replace"), cut=cut, size=info.st_size)


def _why_not(error: OSError, path: str, stage: str) -> str:
    if error.errno == errno.ELOOP:
        return f"{path} is a symbolic link: not followed, not shown."
    if error.errno == errno.ENOENT:
        if not os.path.isdir(os.path.dirname(path)):
            return f"{NOT_VISIBLE} (no directory {os.path.dirname(path)} here)."
        if stage == "pending":
            return f"{NOT_YET}: it has not started."
        if stage == "finished":
            return f"{NOT_VISIBLE}: there is no {path} here (it may be on the node that ran it)."
        return f"{NOT_YET} (there is no {path} here yet)."
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"{NOT_VISIBLE}: the portal may not read {path}."
    return f"{NOT_VISIBLE}: opening {path} failed ({error.strerror})."
