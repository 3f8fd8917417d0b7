# call: Schedd.query
# projection: ClusterId ProcId JobStatus JobUniverse RequestCpus RemoteHost AcctGroup BurstPartition JobBatchName JobCurrentStartDate RemoteWallClockTime CompletionDate EnteredCurrentStatus LastRemoteHost
#
# Pool brecca's schedd while job 130.0 runs on the burst VM brecca-vm001 (its dynamic
# slot slot1_1). The schedd adds ServerTime. Written by hand: no HTCondor daemon runs here.

ClusterId = 130
ProcId = 0
JobStatus = 2
JobUniverse = 5
RequestCpus = 2
RemoteHost = "slot1_1@brecca-vm001"
AcctGroup = "projecta"
BurstPartition = "burst"
JobBatchName = "ID: 130"
JobCurrentStartDate = 1790003720
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 1790003720
ServerTime = 1790003750
