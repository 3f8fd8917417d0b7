"""Recorded HTCondor answers in place of a pool, for tests: the only stand-in for HTCondor.

No HTCondor daemon runs on the machines Allotment is built on (Debian 12 packages none;
the PyPI wheel holds client bindings only), so integrations.htcondor.queue is tested
against recordings: files of ClassAds in HTCondor's long form (`condor_q -long`), read
into real classad2.ClassAd objects, the type htcondor2's queries return. Each file
begins with "# key: value" lines naming the query it answers:

    # call: Schedd.query | Schedd.history | Collector.query
    # opts: GroupBy                      (Schedd.query; absent: a plain job query)
    # constraint: JobStatus == 1 && ...
    # projection: JobStatus RequestCpus ...

RecordedSchedd and RecordedCollector answer as the daemons do on those ads: the
constraint is evaluated on each ad (classad2), so a recording of more ads than a query
wants serves it. An aggregate (GroupBy) answer was aggregated from jobs when recorded,
so it answers only the very constraint and projection it was recorded with, and any
other query fails the test: the query changed, record it again. A query asking for an
attribute the recording lacks fails the same way.
"""

from __future__ import annotations

from pathlib import Path

import classad2
import htcondor2

DATA = Path(__file__).parent / "tests" / "data"


class Recording:
    """One recorded query (its header) and its answer (the ads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if Path(path).is_absolute() else DATA / path
        text = self.path.read_text()
        self.header: dict[str, str] = {}
        body = []
        for line in text.splitlines():
            if line.startswith("#"):
                key, sep, rest = line[1:].partition(":")
                if sep and key.strip() in ("call", "opts", "constraint", "projection"):
                    self.header[key.strip()] = rest.strip()
            else:
                body.append(line)
        self.ads = list(classad2.parseAds("\n".join(body), classad2.ParserType.Old))

    @property
    def projection(self) -> list[str]:
        return self.header.get("projection", "").split()

    def answer(self, constraint: str, projection: list[str], exact: bool = False) -> list:
        name = self.path.name
        if exact and (constraint, list(projection)) != (self.header.get("constraint"),
                                                         self.projection):  # fmt: skip
            raise AssertionError(
                f"{name} answers constraint {self.header.get('constraint')!r} projection "
                f"{self.projection}, not {constraint!r} {list(projection)}: record it again"
            )
        if missing := [a for a in projection if a not in self.projection]:
            raise AssertionError(f"{name} was recorded without {missing}: record it again")
        return [ad for ad in self.ads if matches(constraint, ad)]


def matches(constraint: str, ad: classad2.ClassAd) -> bool:
    """Whether the ad passes the constraint, as a daemon decides (only a true passes)."""
    if not constraint:
        return True
    return classad2.ExprTree(constraint).eval(ad) is True


class RecordedSchedd:
    """htcondor2.Schedd's query and history, answered from recordings."""

    def __init__(self, autoclusters: Recording | None = None, jobs: Recording | None = None,
                 history: Recording | None = None) -> None:  # fmt: skip
        self.autoclusters, self.jobs, self.history_ = autoclusters, jobs, history
        self.calls: list[tuple] = []

    def query(self, constraint="True", projection=(), callback=None, limit=-1,
              opts=htcondor2.QueryOpt.Default):  # fmt: skip
        self.calls.append(("query", str(constraint), list(projection), opts))
        if opts == htcondor2.QueryOpt.GroupBy:
            return self._from(self.autoclusters, "GroupBy", constraint, projection, exact=True)
        if opts != htcondor2.QueryOpt.Default:
            raise AssertionError(f"no recording of a query with opts {opts!r}")
        return self._from(self.jobs, "job", constraint, projection)[: limit if limit >= 0 else None]

    def history(self, constraint=None, projection=(), match=-1, since=None):
        self.calls.append(("history", str(constraint), list(projection), since))
        found = self._from(self.history_, "history", constraint or "", projection)
        return found[: match if match >= 0 else None]

    @staticmethod
    def _from(recording, what, constraint, projection, exact=False):
        if recording is None:
            raise AssertionError(f"no recording of a {what} query was given")
        return recording.answer(str(constraint), list(projection), exact=exact)


class RecordedCollector:
    """htcondor2.Collector's query, answered from a recording of startd ads."""

    def __init__(self, startds: Recording) -> None:
        self.startds = startds
        self.calls: list[tuple] = []

    def query(self, ad_type=htcondor2.AdType.Any, constraint=None, projection=None,
              statistics=None):  # fmt: skip
        self.calls.append(("query", ad_type, constraint, list(projection or [])))
        if ad_type != htcondor2.AdType.Startd:
            raise AssertionError(f"no recording of {ad_type!r} ads")
        return self.startds.answer(constraint or "", list(projection or []))


class Unreachable:
    """A schedd or collector that does not answer: every call raises what htcondor2
    raises then (HTCondorException('Failed to connect to <...>'), as measured with the
    25.x wheel against a closed port)."""

    def __init__(self, message: str = "Failed to connect to <10.0.0.9:9618>") -> None:
        self.message = message

    def _fail(self, *args, **kwargs):
        raise htcondor2.HTCondorException(self.message)

    query = history = locate = _fail
