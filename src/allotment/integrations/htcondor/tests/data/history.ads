# call: Schedd.history
# projection: ClusterId ProcId JobStatus RequestCpus RemoteWallClockTime JobCurrentStartDate CompletionDate EnteredCurrentStatus LastRemoteHost AcctGroup
#
# Finished jobs from pool brecca's schedd history (condor_history -long -attributes
# <projection>). RemoteWallClockTime is a real (seconds, every run of the job);
# CompletionDate is 0 for a removed job, whose end is EnteredCurrentStatus. Written by
# hand in that shape: no HTCondor daemon runs here.
#   101.3  ran on brecca-vm001 from 1000 to 1600
#   102.0  ran 300 s elsewhere, was evicted, then on brecca-vm001 from 1500 to 2100
#   103.7  removed at 2500 while running on brecca-vm001 since 2200
#   104.1  ran on brecca-vm0010 (another VM) from 1300 to 1900
#   101.9  ran on brecca-vm001 from 300 to 900, before the span asked about

ClusterId = 101
ProcId = 3
JobStatus = 4
RequestCpus = 1
RemoteWallClockTime = 600.0
JobCurrentStartDate = 1000
CompletionDate = 1600
EnteredCurrentStatus = 1600
LastRemoteHost = "slot1_2@brecca-vm001"
AcctGroup = "projecta"

ClusterId = 102
ProcId = 0
JobStatus = 4
RequestCpus = 4
RemoteWallClockTime = 900.0
JobCurrentStartDate = 1500
CompletionDate = 2100
EnteredCurrentStatus = 2100
LastRemoteHost = "slot1_1@brecca-vm001"
AcctGroup = "projecta"

ClusterId = 103
ProcId = 7
JobStatus = 3
RequestCpus = 1
RemoteWallClockTime = 300.0
JobCurrentStartDate = 2200
CompletionDate = 0
EnteredCurrentStatus = 2500
LastRemoteHost = "slot1_3@brecca-vm001"
AcctGroup = "projectb"

ClusterId = 104
ProcId = 1
JobStatus = 4
RequestCpus = 2
RemoteWallClockTime = 600.0
JobCurrentStartDate = 1300
CompletionDate = 1900
EnteredCurrentStatus = 1900
LastRemoteHost = "slot1_1@brecca-vm0010"
AcctGroup = "projectb"

ClusterId = 101
ProcId = 9
JobStatus = 4
RequestCpus = 1
RemoteWallClockTime = 600.0
JobCurrentStartDate = 300
CompletionDate = 900
EnteredCurrentStatus = 900
LastRemoteHost = "slot1_1@brecca-vm001"
AcctGroup = "projecta"
