# call: Collector.query
# projection: Name Machine AllotmentVM State Activity SlotType Cpus Draining Absent DrainReason DrainingRequestId MyAddress JobId ClientMachine
#
# Startd (slot) ads in pool brecca's collector (condor_status -long -attributes
# <projection>), for integrations.htcondor.nodes. A burst VM runs one partitionable slot
# ("slot1@vm") and a dynamic slot per claim ("slot1_N@vm", JobId the job on it,
# ClientMachine the schedd holding the claim). While a startd drains, every slot carries
# Draining, DrainReason (the reason the drain was asked with, verbatim) and
# DrainingRequestId (startd ResMgr::startDraining); MyAddress is the startd's sinful
# string. Written by hand in that shape: no HTCondor daemon runs here.
#   brecca-vm011  joined, unclaimed
#   brecca-vm012  one job of the pool's schedd (120.0) and one flocked from another (7.0)
#   brecca-vm013  draining by a shift: its job 121.0 retiring
#   brecca-vm014  drained by an operator (condor_drain without -reason: "by <user>")
#   brecca-vm015  absent: the collector keeps the ad of a startd it no longer hears from
#   brecca-vm016  Owner state: its START is false
#   brecca-vm017  drained by a shift, no job left
#   brecca-vm018  its job 123.0 being vacated
#   worker01.brecca.example.org  the pool's own machine: no AllotmentVM

MyType = "Machine"
Name = "slot1@brecca-vm011"
Machine = "brecca-vm011"
AllotmentVM = "brecca-vm011"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
MyAddress = "<10.20.0.11:9618?addrs=10.20.0.11-9618&alias=brecca-vm011&noUDP&sock=startd_1712_3a9c>"

MyType = "Machine"
Name = "slot1@brecca-vm012"
Machine = "brecca-vm012"
AllotmentVM = "brecca-vm012"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 0
MyAddress = "<10.20.0.12:9618?addrs=10.20.0.12-9618&alias=brecca-vm012&noUDP&sock=startd_1698_77e1>"

MyType = "Machine"
Name = "slot1_1@brecca-vm012"
Machine = "brecca-vm012"
AllotmentVM = "brecca-vm012"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
Cpus = 2
MyAddress = "<10.20.0.12:9618?addrs=10.20.0.12-9618&alias=brecca-vm012&noUDP&sock=startd_1698_77e1>"
JobId = "120.0"
ClientMachine = "submit.brecca.example.org"

MyType = "Machine"
Name = "slot1_2@brecca-vm012"
Machine = "brecca-vm012"
AllotmentVM = "brecca-vm012"
State = "Claimed"
Activity = "Busy"
SlotType = "Dynamic"
Cpus = 2
MyAddress = "<10.20.0.12:9618?addrs=10.20.0.12-9618&alias=brecca-vm012&noUDP&sock=startd_1698_77e1>"
JobId = "7.0"
ClientMachine = "submit.elsewhere.example.org"

MyType = "Machine"
Name = "slot1@brecca-vm013"
Machine = "brecca-vm013"
AllotmentVM = "brecca-vm013"
State = "Drained"
Activity = "Retiring"
SlotType = "Partitionable"
Cpus = 0
Draining = true
DrainReason = "allotment shift: burst VM retiring (idle for 300 s)"
DrainingRequestId = "b7e5a0f4-5d0c-4c4e-9a8e-3f1d2c6b9a01"
MyAddress = "<10.20.0.13:9618?addrs=10.20.0.13-9618&alias=brecca-vm013&noUDP&sock=startd_1702_c4d0>"

MyType = "Machine"
Name = "slot1_1@brecca-vm013"
Machine = "brecca-vm013"
AllotmentVM = "brecca-vm013"
State = "Claimed"
Activity = "Retiring"
SlotType = "Dynamic"
Cpus = 4
Draining = true
DrainReason = "allotment shift: burst VM retiring (idle for 300 s)"
DrainingRequestId = "b7e5a0f4-5d0c-4c4e-9a8e-3f1d2c6b9a01"
MyAddress = "<10.20.0.13:9618?addrs=10.20.0.13-9618&alias=brecca-vm013&noUDP&sock=startd_1702_c4d0>"
JobId = "121.0"
ClientMachine = "submit.brecca.example.org"

MyType = "Machine"
Name = "slot1@brecca-vm014"
Machine = "brecca-vm014"
AllotmentVM = "brecca-vm014"
State = "Drained"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
Draining = true
DrainReason = "by condor"
DrainingRequestId = "0c1d2e3f-1111-4a2b-8c3d-4e5f6a7b8c9d"
MyAddress = "<10.20.0.14:9618?addrs=10.20.0.14-9618&alias=brecca-vm014&noUDP&sock=startd_1690_0b12>"

MyType = "Machine"
Name = "slot1@brecca-vm015"
Machine = "brecca-vm015"
AllotmentVM = "brecca-vm015"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
Absent = true
MyAddress = "<10.20.0.15:9618?addrs=10.20.0.15-9618&alias=brecca-vm015&noUDP&sock=startd_1688_5f20>"

MyType = "Machine"
Name = "slot1@brecca-vm016"
Machine = "brecca-vm016"
AllotmentVM = "brecca-vm016"
State = "Owner"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
MyAddress = "<10.20.0.16:9618?addrs=10.20.0.16-9618&alias=brecca-vm016&noUDP&sock=startd_1701_9e33>"

MyType = "Machine"
Name = "slot1@brecca-vm017"
Machine = "brecca-vm017"
AllotmentVM = "brecca-vm017"
State = "Drained"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 4
Draining = true
DrainReason = "allotment shift: burst VM retiring (cloud nimbus is disabled)"
DrainingRequestId = "5a6b7c8d-2222-4e3f-9a0b-1c2d3e4f5a6b"
MyAddress = "<10.20.0.17:9618?addrs=10.20.0.17-9618&alias=brecca-vm017&noUDP&sock=startd_1694_1a2b>"

MyType = "Machine"
Name = "slot1@brecca-vm018"
Machine = "brecca-vm018"
AllotmentVM = "brecca-vm018"
State = "Unclaimed"
Activity = "Idle"
SlotType = "Partitionable"
Cpus = 2
MyAddress = "<10.20.0.18:9618?addrs=10.20.0.18-9618&alias=brecca-vm018&noUDP&sock=startd_1707_e0f1>"

MyType = "Machine"
Name = "slot1_1@brecca-vm018"
Machine = "brecca-vm018"
AllotmentVM = "brecca-vm018"
State = "Preempting"
Activity = "Vacating"
SlotType = "Dynamic"
Cpus = 2
MyAddress = "<10.20.0.18:9618?addrs=10.20.0.18-9618&alias=brecca-vm018&noUDP&sock=startd_1707_e0f1>"
JobId = "123.0"
ClientMachine = "submit.brecca.example.org"

MyType = "Machine"
Name = "slot1@worker01.brecca.example.org"
Machine = "worker01.brecca.example.org"
State = "Claimed"
Activity = "Busy"
SlotType = "Static"
Cpus = 8
MyAddress = "<10.20.1.1:9618?addrs=10.20.1.1-9618&alias=worker01.brecca.example.org&sock=startd_988_aa01>"
JobId = "111.0"
ClientMachine = "submit.brecca.example.org"
