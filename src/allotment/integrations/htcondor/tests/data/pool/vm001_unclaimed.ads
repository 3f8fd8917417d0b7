# call: Collector.query
# projection: Name Machine AllotmentVM State Activity SlotType Cpus Draining Absent DrainReason DrainingRequestId MyAddress JobId ClientMachine
#
# brecca-vm001's startd once the VM has booted and joined pool brecca: its one
# partitionable slot, unclaimed (and again once its job is done). Written by hand: no
# HTCondor daemon runs here.

MyType = "Machine"
Name = "slot1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 2
MyAddress = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=startd_1520_4be7>"
