# call: Schedd.query
# projection: ClusterId ProcId JobStatus JobUniverse RequestCpus RemoteHost AcctGroup BurstPartition JobCurrentStartDate RemoteWallClockTime CompletionDate EnteredCurrentStatus LastRemoteHost
#
# Job ads of pool brecca's schedd (condor_q -long -attributes <projection>): the running
# ones and a few others a running-jobs query must leave out. The schedd adds ServerTime to
# each ad (htcondor2 asks for it). RemoteHost is the claimed slot's Name, a dynamic slot
# "slot1_N@host" of the VM's partitionable slot. Written by hand in that shape: no
# HTCondor daemon runs here.
#   110.0  running on brecca-vm001 since 2400 (4 cores, projecta)
#   110.1  transferring its output on brecca-vm003 (JobStatus 6: still holds the slot)
#   112.0  running on brecca-vm0010 (a name that begins as brecca-vm001's does)
#   111.0  running on a worker of the pool's own, outside the burst partition
#   101.0  idle; 106.0 held

ClusterId = 110
ProcId = 0
JobStatus = 2
JobUniverse = 5
RequestCpus = 4
RemoteHost = "slot1_1@brecca-vm001"
AcctGroup = "projecta"
BurstPartition = "burst"
JobCurrentStartDate = 2400
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 2400
ServerTime = 2700

ClusterId = 110
ProcId = 1
JobStatus = 6
JobUniverse = 5
RequestCpus = 2
RemoteHost = "slot1_2@brecca-vm003"
AcctGroup = "projectb"
BurstPartition = "burst"
JobCurrentStartDate = 2000
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 2650
ServerTime = 2700

ClusterId = 112
ProcId = 0
JobStatus = 2
JobUniverse = 5
RequestCpus = 1
RemoteHost = "slot1_1@brecca-vm0010"
AcctGroup = "projectb"
BurstPartition = "burst"
JobCurrentStartDate = 2500
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 2500
ServerTime = 2700

ClusterId = 111
ProcId = 0
JobStatus = 2
JobUniverse = 5
RequestCpus = 8
RemoteHost = "slot1@worker01.brecca.example.org"
AcctGroup = "projecta"
JobCurrentStartDate = 1900
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 1900
ServerTime = 2700

ClusterId = 101
ProcId = 0
JobStatus = 1
JobUniverse = 5
RequestCpus = 1
AcctGroup = "projecta"
BurstPartition = "burst"
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 1000
ServerTime = 2700

ClusterId = 106
ProcId = 0
JobStatus = 5
JobUniverse = 5
RequestCpus = 1
AcctGroup = "projecta"
BurstPartition = "burst"
RemoteWallClockTime = 0.0
CompletionDate = 0
EnteredCurrentStatus = 1100
ServerTime = 2700
