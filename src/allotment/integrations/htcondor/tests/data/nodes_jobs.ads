# call: Schedd.query
# projection: ClusterId ProcId JobStatus RemoteHost JobBatchName
#
# Job ads of pool brecca's schedd (condor_q -long -attributes <projection>), for
# integrations.htcondor.nodes. RemoteHost is the claimed slot's Name; JobBatchName is
# condor_q's BATCH_NAME (condor_submit's batch_name, else "ID: <cluster>"). The schedd
# adds ServerTime. Written by hand in that shape: no HTCondor daemon runs here.
#   120.0  running on brecca-vm012
#   121.0  running on brecca-vm013 (retiring while the startd drains)
#   122.0  running on brecca-vm0120 (a name that begins as brecca-vm012's does)
#   123.0  running on brecca-vm018, being vacated (JobStatus stays 2 until it is off)
#   124.0  idle

ClusterId = 120
ProcId = 0
JobStatus = 2
RemoteHost = "slot1_1@brecca-vm012"
JobBatchName = "tiles"
ServerTime = 1790000400

ClusterId = 121
ProcId = 0
JobStatus = 2
RemoteHost = "slot1_1@brecca-vm013"
JobBatchName = "ID: 121"
ServerTime = 1790000400

ClusterId = 122
ProcId = 0
JobStatus = 2
RemoteHost = "slot1_1@brecca-vm0120"
JobBatchName = "ID: 122"
ServerTime = 1790000400

ClusterId = 123
ProcId = 0
JobStatus = 2
RemoteHost = "slot1_1@brecca-vm018"
JobBatchName = "ID: 123"
ServerTime = 1790000400

ClusterId = 124
ProcId = 0
JobStatus = 1
JobBatchName = "ID: 124"
ServerTime = 1790000400
