# call: Collector.query
# projection: Name Machine AllotmentVM State Activity SlotType Cpus Draining Absent DrainReason DrainingRequestId MyAddress JobId ClientMachine
#
# brecca-vm001's startd while job 130.0 runs: the partitionable slot with no core left
# and the dynamic slot claimed by pool brecca's schedd. Written by hand: no HTCondor
# daemon runs here.

MyType = "Machine"
Name = "slot1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 0
MyAddress = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=startd_1520_4be7>"

MyType = "Machine"
Name = "slot1_1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
Cpus = 2
MyAddress = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=startd_1520_4be7>"
JobId = "130.0"
ClientMachine = "submit.brecca.example.org"
