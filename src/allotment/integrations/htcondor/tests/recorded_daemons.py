"""Stand-ins for what integrations.htcondor.nodes asks of HTCondor beyond the queries
testing.py records: master ads from the collector, and the commands sent to a startd
(drain, cancel, vacate) or a master (DaemonOff), recorded as the bindings would send
them. No HTCondor daemon runs here (see testing.py)."""

from __future__ import annotations

import classad2
import htcondor2

from allotment.integrations.htcondor.testing import RecordedCollector, Recording


class PoolCollector(RecordedCollector):
    """htcondor2.Collector's query for startd ads and master ads, from recordings."""

    def __init__(self, startds: Recording, masters: Recording | None = None) -> None:
        super().__init__(startds)
        self.masters = masters

    def query(self, ad_type=htcondor2.AdType.Any, constraint=None, projection=None,
              statistics=None):  # fmt: skip
        if ad_type != htcondor2.AdType.Master:
            return super().query(ad_type, constraint, projection, statistics)
        self.calls.append(("query", ad_type, constraint, list(projection or [])))
        if self.masters is None:
            raise AssertionError("no recording of master ads was given")
        return self.masters.answer(constraint or "", list(projection or []))


class RecordedControl:
    """nodes.Bindings' stand-in: each command as (what, daemon's MyAddress, arguments),
    in `calls`. drainJobs answers a request id, as the startd does."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def startd(self, location) -> RecordedStartd:
        if not isinstance(location, classad2.ClassAd) or "MyAddress" not in location:
            raise TypeError("location must be a ClassAd with MyAddress")  # as Startd() does
        return RecordedStartd(self, location["MyAddress"])

    def send(self, location, command, target=None) -> None:
        self.calls.append(("send", location["MyAddress"], command, target))


class RecordedStartd:
    """htcondor2.Startd's drainJobs, cancelDrainJobs and vacate, recorded."""

    def __init__(self, control: RecordedControl, address: str) -> None:
        self.control, self.address = control, address

    def drainJobs(self, drain_type=htcondor2.DrainType.Graceful,
                  on_completion=htcondor2.CompletionType.Nothing, check_expr=None,
                  start_expr=None, reason=None) -> str:  # fmt: skip
        self.control.calls.append(("drainJobs", self.address, drain_type, on_completion, reason))
        return f"request-{len(self.control.calls)}"

    def cancelDrainJobs(self, request_id=None) -> None:
        self.control.calls.append(("cancelDrainJobs", self.address, request_id))

    def vacate(self, vacate_fast=htcondor2.VacateType.Graceful) -> None:
        self.control.calls.append(("vacate", self.address, vacate_fast))
