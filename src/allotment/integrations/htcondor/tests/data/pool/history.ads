# call: Schedd.history
# projection: ClusterId ProcId JobStatus RequestCpus RemoteWallClockTime JobCurrentStartDate CompletionDate EnteredCurrentStatus LastRemoteHost AcctGroup
#
# Pool brecca's schedd history once job 130.0 has completed on brecca-vm001. Its times
# are the recording's, not the test's: charging finds no core-seconds of it within a VM
# booted now (charging's split is tested on ../history.ads). Written by hand: no HTCondor
# daemon runs here.

ClusterId = 130
ProcId = 0
JobStatus = 4
RequestCpus = 2
RemoteWallClockTime = 4.0
JobCurrentStartDate = 1790003720
CompletionDate = 1790003724
EnteredCurrentStatus = 1790003724
LastRemoteHost = "slot1_1@brecca-vm001"
AcctGroup = "projecta"
