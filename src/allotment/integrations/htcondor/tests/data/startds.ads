# call: Collector.query
# projection: Name Machine AllotmentVM State Activity SlotType Cpus Draining Absent
#
# Startd (slot) ads in pool brecca's collector (condor_status -long -attributes
# <projection>); the collector adds MyType to every ad. A burst VM runs one partitionable
# slot ("slot1@vm", Cpus: the cores not yet claimed) and a dynamic slot per claim
# ("slot1_N@vm"). Written by hand in that shape: no HTCondor daemon runs here.
#   brecca-vm001  its 4 cores claimed by one job
#   brecca-vm002  unclaimed
#   brecca-vm003  2 of its 4 cores claimed
#   brecca-vm004  draining: Drained/Retiring while its job finishes
#   brecca-vm005  drained, no job left
#   brecca-vm006  in the Owner state (its START is false)
#   brecca-vm008  absent: the collector keeps the ad of a startd it no longer hears from
#   worker01      the pool's own machine: no AllotmentVM, not burst's
#   brecca-vm007  has no ad at all

MyType = "Machine"
Name = "slot1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 0

MyType = "Machine"
Name = "slot1_1@brecca-vm001"
Machine = "brecca-vm001"
AllotmentVM = "brecca-vm001"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
Cpus = 4

MyType = "Machine"
Name = "slot1@brecca-vm002"
Machine = "brecca-vm002"
AllotmentVM = "brecca-vm002"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4

MyType = "Machine"
Name = "slot1@brecca-vm003"
Machine = "brecca-vm003"
AllotmentVM = "brecca-vm003"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 2

MyType = "Machine"
Name = "slot1_2@brecca-vm003"
Machine = "brecca-vm003"
AllotmentVM = "brecca-vm003"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
Cpus = 2

MyType = "Machine"
Name = "slot1@brecca-vm004"
Machine = "brecca-vm004"
AllotmentVM = "brecca-vm004"
State = "Drained"
Activity = "Retiring"
SlotType = "Partitionable"
Cpus = 0
Draining = true

MyType = "Machine"
Name = "slot1_1@brecca-vm004"
Machine = "brecca-vm004"
AllotmentVM = "brecca-vm004"
State = "Claimed"
Activity = "Retiring"
SlotType = "Dynamic"
Cpus = 4
Draining = true

MyType = "Machine"
Name = "slot1@brecca-vm005"
Machine = "brecca-vm005"
AllotmentVM = "brecca-vm005"
State = "Drained"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
Draining = false

MyType = "Machine"
Name = "slot1@brecca-vm006"
Machine = "brecca-vm006"
AllotmentVM = "brecca-vm006"
State = "Owner"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4

MyType = "Machine"
Name = "slot1@brecca-vm008"
Machine = "brecca-vm008"
AllotmentVM = "brecca-vm008"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
Absent = true

MyType = "Machine"
Name = "slot1@worker01.brecca.example.org"
Machine = "worker01.brecca.example.org"
State = "Claimed"
Activity = "Busy"
SlotType = "Static"
Cpus = 8
