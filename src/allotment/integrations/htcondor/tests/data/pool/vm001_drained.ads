# call: Collector.query
# projection: Name Machine AllotmentVM State Activity SlotType Cpus Draining Absent DrainReason DrainingRequestId MyAddress JobId ClientMachine
#
# brecca-vm001's startd drained by burst with no job left (drainJobs Graceful, reason
# "allotment shift: burst VM retiring (idle for 0 s)"): the slot Drained, the drain's
# reason and request id in it. Written by hand: no HTCondor daemon runs here.

MyType = "Machine"
Name = "slot1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Drained"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 2
Draining = true
DrainReason = "allotment shift: burst VM retiring (idle for 0 s)"
DrainingRequestId = "e2a4c6d8-3333-4b5c-8d9e-0f1a2b3c4d5e"
MyAddress = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=startd_1520_4be7>"
