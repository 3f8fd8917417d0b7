"""HTCondor as a service a node can be in (inventory.engines.ServicePort): an execute
host's startd as the collector advertises it, its jobs as the schedd knows them, and the
startd's drain, cancel, vacate and the master's DaemonOff, through the htcondor2 bindings.

What burst's VM steps (burst.reconcile) need of a node, and how HTCondor gives it:

- A host is its startd's slot ads in the collector: those whose AllotmentVM (the burst
  VM's name, burst.contextualize puts it in STARTD_ATTRS) or Machine is the name, or whose
  Machine's short name is (a site's own hosts). No ad: not known; an ad the collector
  marks Absent (it no longer hears from the startd): known, not up.
- Drained: the startd is draining or drained (Draining, or a slot in the Drained state).
  HTCondor's drain has a reason: `Startd.drainJobs(reason=...)` sends it with the
  DRAIN_JOBS command and the startd puts it, verbatim, in every slot ad as DrainReason,
  with DrainingRequestId, while it drains (startd ResMgr::startDraining;
  condor_attributes.h ATTR_DRAIN_REASON "DrainReason"); condor_drain without -reason
  gives "by <user>", the defrag daemon "Defrag <name>". So our reason lives in HTCondor
  itself, as Slurm's does, and `resume` cancels only a drain whose DrainReason starts
  with REASON_PREFIX, by its request id (never someone else's drain on the same startd).
- The drain is Graceful with CompletionType.Nothing: running jobs keep their slots for
  up to the job's MaxJobRetirementTime (the site's MAXJOBRETIREMENTTIME: 0 by default,
  when HTCondor evicts them at once and they go back to idle in the queue) and the
  startd stays Drained, taking nothing, until cancelled or stopped.
- Workload: the jobs the schedd runs on the host (JobStatus running, transferring
  output, suspended), and any claimed busy slot running a job of another schedd
  (flocking; its JobId is not among the schedd's), so no VM is retired under a job
  Allotment's schedd does not see.
- Evacuate: nothing without force (jobs end by themselves); with force the startd
  vacates every active slot (graceful: MachineMaxVacateTime), and HTCondor puts vanilla
  jobs back in the queue as idle, as Slurm's requeue does. Slots already Vacating or
  Killing are on the move and not asked again.
- Start: nothing; the VM's image starts condor itself (cloud-init from
  integrations.htcondor.contextualize), and the startd's ads appear when it has joined.
- Stop: `condor_off -daemon startd` through the host's master (DaemonCommands.DaemonOff,
  target STARTD): a startd shut down so invalidates its ads in the collector at once.
  Not stopped, a deleted VM's ads stay in the collector until they expire
  (CLASSAD_LIFETIME, 15 min by default): a VM name used again within that time would be
  seen as joined, drained, before its own startd had. A master that does not answer (the
  VM is dying) stops nothing, and is no reason to keep paying for the VM: the burst loop
  deletes it next whatever stop does, so stop says nothing then (logged). A host still
  running jobs is not stopped (a temporary error), as Slurm's.

No HTCondor daemon runs where this is built, so it is tested against recorded ads
(tests/data/nodes_*.ads) and a recording stand-in for the daemons' commands.
"""

from __future__ import annotations

import logging

import classad2

from allotment.inventory.engines import (
    REASON_PREFIX,
    EngineError,
    Evacuation,
    HostState,
    Workload,
)

from .queue import (
    _NODE_NAME,
    STARTD_PROJECTION,
    VM_ATTR,
    HTCondorQueue,
    _number,
    _text,
    running_on_constraint,
    value,
)

log = logging.getLogger(__name__)

SLOT_PROJECTION = [*STARTD_PROJECTION, "DrainReason", "DrainingRequestId", "MyAddress",
                   "JobId", "ClientMachine"]  # fmt: skip
JOB_PROJECTION = ["ClusterId", "ProcId", "JobStatus", "RemoteHost", "JobBatchName"]
MASTER_PROJECTION = ["Name", "Machine", "MyAddress"]
JOB_STATES = {2: "RUNNING", 6: "TRANSFERRING_OUTPUT", 7: "SUSPENDED"}
_WORKING = ("Busy", "Retiring", "Suspended")  # a claimed slot's activities with a job on it
_LEAVING = ("Vacating", "Killing")  # a job already being evicted


# -- the queries and the ads (pure) ------------------------------------------------------


def host_constraint(name: str, own: str = VM_ATTR) -> str:
    """The ads of host `name`: a burst VM's (`own`: AllotmentVM of its slots, Name of
    its master), or a host's whose Machine is the name or has it as its short name
    ("worker01" → "worker01.example.org")."""
    quoted = classad2.quote(name)
    short = classad2.quote("^" + name.replace(".", "[.]") + "[.]")
    return f"{own} =?= {quoted} || Machine =?= {quoted} || regexp({short}, Machine)"


def absent(slots: list[classad2.ClassAd]) -> bool:
    return any(value(s, "Absent") is True for s in slots)


def drained(slots: list[classad2.ClassAd]) -> bool:
    return any(value(s, "Draining") is True or _text(s, "State") == "Drained" for s in slots)


def drain_reason(slots: list[classad2.ClassAd]) -> str:
    return next((r for s in slots if (r := _text(s, "DrainReason"))), "")


def request_id(slots: list[classad2.ClassAd]) -> str:
    return next((r for s in slots if (r := _text(s, "DrainingRequestId"))), "")


def detail(slots: list[classad2.ClassAd]) -> str:
    """The startd's own words, for the page: "Claimed/Busy, Unclaimed/Idle (draining)"."""
    words = ", ".join(sorted({f"{_text(s, 'State')}/{_text(s, 'Activity')}" for s in slots}))
    if absent(slots):
        return f"{words} (absent)"
    return f"{words} (draining)" if any(value(s, "Draining") is True for s in slots) else words


def jobs_of(ads: list[classad2.ClassAd]) -> list[Workload]:
    return [
        Workload(
            id=f"{_number(ad, 'ClusterId')}.{_number(ad, 'ProcId')}",
            name=_text(ad, "JobBatchName"),
            state=JOB_STATES.get(_number(ad, "JobStatus"), str(_number(ad, "JobStatus"))),
            detail=_text(ad, "RemoteHost"),
        )
        for ad in ads
    ]


def foreign_jobs(slots: list[classad2.ClassAd], known: set[str]) -> list[Workload]:
    """Claimed slots running a job the schedd did not list: another schedd's. Its name
    says whose claim; its detail is the slot, as a schedd job's RemoteHost."""
    return [
        Workload(
            id=_text(slot, "JobId") or _text(slot, "Name"),
            name=f"claim of {_text(slot, 'ClientMachine') or '?'}",
            state=f"Claimed/{_text(slot, 'Activity')}",
            detail=_text(slot, "Name"),
        )
        for slot in slots
        if _text(slot, "State") == "Claimed"
        and _text(slot, "Activity") in _WORKING + _LEAVING
        and _text(slot, "JobId") not in known
    ]


# -- the daemons' commands ---------------------------------------------------------------


class Bindings:
    """The bindings' commands to a startd and a master (tests give a recording stand-in
    with the same two methods)."""

    def startd(self, location: classad2.ClassAd):
        import htcondor2

        return htcondor2.Startd(location)

    def send(self, location: classad2.ClassAd, command, target: str | None = None) -> None:
        import htcondor2

        htcondor2.send_command(location, command, target)


class HTCondorNodes:
    """engines.ServicePort for a ledger machine whose engine is HTCondor: the pool of
    engine_options "collector" and its schedd "schedd" (as integrations.htcondor.queue
    reads them). `collector`, `schedd` and `control` are the bindings' objects unless
    given (tests give recorded ones)."""

    def __init__(self, machine, collector=None, schedd=None, control=None) -> None:
        self.pool = HTCondorQueue(machine, collector=collector, schedd=schedd)
        self.control = control or Bindings()

    @property
    def where(self) -> str:
        return self.pool.where

    # -- observing --------------------------------------------------------------------

    def slots(self, name: str) -> list[classad2.ClassAd]:
        """The host's slot ads in the collector now ([] when it has none)."""
        import htcondor2

        self._valid(name)
        with self.pool._calling(f"read the startd ads of {name}"):
            return list(self.pool.collector().query(
                htcondor2.AdType.Startd, host_constraint(name), SLOT_PROJECTION
            ))  # fmt: skip

    def host(self, name: str) -> HostState:
        slots = self.slots(name)
        if not slots:
            return HostState(known=False, detail=f"no startd ad of {name} in {self.where}")
        out = drained(slots)
        return HostState(
            known=True,
            up=not absent(slots),
            drained=out,
            reason=drain_reason(slots) if out else "",
            detail=detail(slots),
        )

    def workload(self, name: str) -> list[Workload]:
        self._valid(name)
        with self.pool._calling(f"read the jobs on {name}"):
            ads = self.pool.schedd().query(running_on_constraint(name), JOB_PROJECTION)
        jobs = jobs_of(ads)
        return jobs + foreign_jobs(self.slots(name), {job.id for job in jobs})

    def health(self, name: str) -> str:
        slots = self.slots(name)
        if not slots:
            return f"no startd of {name} has joined {self.where}"
        if absent(slots):
            return f"the collector of {self.where} no longer hears from the startd of {name}"
        if drained(slots):
            reason = drain_reason(slots)
            if reason.startswith(REASON_PREFIX):
                return f"the startd of {name} is drained by a shift ({reason})"
            return (f"the startd of {name} is drained by someone else, never resumed by a "
                    f"shift ({reason or 'no reason given'})")  # fmt: skip
        if any(_text(s, "State") == "Owner" for s in slots):
            return f"the startd of {name} is in the Owner state: its START expression is false"
        return ""

    # -- asking -----------------------------------------------------------------------

    def drain(self, name: str, reason: str) -> None:
        import htcondor2

        slots = self._existing(name, "drain")
        if drained(slots):  # someone's drain stays, with their reason
            return
        if absent(slots):
            raise EngineError(f"{self.where}: cannot drain {name}: the collector no longer "
                              "hears from its startd.")  # fmt: skip
        with self.pool._calling(f"drain {name}"):
            self.control.startd(self._address(slots, name)).drainJobs(
                htcondor2.DrainType.Graceful, htcondor2.CompletionType.Nothing, reason=reason
            )

    def resume(self, name: str) -> None:
        slots = self._existing(name, "resume")
        if not drained(slots) or not drain_reason(slots).startswith(REASON_PREFIX):
            return  # not drained, or someone else's drain: theirs stays
        if absent(slots):
            return  # nobody to ask; the drain ends with the startd anyway
        with self.pool._calling(f"cancel the drain of {name}"):
            startd = self.control.startd(self._address(slots, name))
            startd.cancelDrainJobs(request_id(slots) or None)

    def evacuate(self, name: str, *, force: bool) -> Evacuation:
        import htcondor2

        done = Evacuation()
        if not force:  # a job cannot move while it runs: its end is waited for
            return done
        slots = self._existing(name, "evacuate")
        leaving = {_text(s, "Name") for s in slots if _text(s, "Activity") in _LEAVING}
        moving = [w for w in self.workload(name) if w.detail not in leaving]
        if not moving:
            return done
        with self.pool._calling(f"vacate the jobs on {name}"):
            self.control.startd(self._address(slots, name)).vacate(htcondor2.VacateType.Graceful)
        done.started = [f"vacate {w.id}" for w in moving]
        return done

    def start(self, name: str) -> None:
        """Nothing: the VM's image starts condor, and its startd joins by itself."""

    def stop(self, name: str) -> None:
        import htcondor2

        running: list[str] = []
        try:
            slots = self.slots(name)
            if not slots or absent(slots):
                return  # nothing answers there: the collector forgets it by itself
            running = [w.id for w in self.workload(name)]
            master = None if running else self._master(name)
            if master is not None:
                with self.pool._calling(f"stop the startd of {name}"):
                    self.control.send(master, htcondor2.DaemonCommands.DaemonOff, "STARTD")
            elif not running:
                log.info("%s: no master ad of %s: its startd is not stopped", self.where, name)
        except EngineError as e:
            if e.permanent:
                raise
            log.warning("%s (not stopped; the VM is deleted anyway)", e)
        if running:
            raise EngineError(f"{self.where}: {name} still runs jobs {', '.join(running[:10])}; "
                              "not stopping its startd until they end.")  # fmt: skip

    # -- the machinery ----------------------------------------------------------------

    def _valid(self, name: str) -> None:
        if not _NODE_NAME.fullmatch(name):
            raise EngineError(f"{self.where}: {name!r} is not a host name.", permanent=True)

    def _existing(self, name: str, what: str) -> list[classad2.ClassAd]:
        slots = self.slots(name)
        if not slots:
            raise EngineError(
                f"{self.where}: cannot {what} {name}: the collector has no startd ad of it.",
                permanent=True,
            )
        return slots

    def _address(self, slots: list[classad2.ClassAd], name: str) -> classad2.ClassAd:
        """A slot ad as the startd's location (its MyAddress)."""
        found = next((s for s in slots if _text(s, "MyAddress")), None)
        if found is None:
            raise EngineError(f"{self.where}: the startd ads of {name} carry no MyAddress.")
        return found

    def _master(self, name: str) -> classad2.ClassAd | None:
        import htcondor2

        with self.pool._calling(f"find the master of {name}"):
            ads = self.pool.collector().query(
                htcondor2.AdType.Master, host_constraint(name, "Name"), MASTER_PROJECTION
            )
        return next((ad for ad in ads if _text(ad, "MyAddress")), None)
