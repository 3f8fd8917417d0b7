# call: Schedd.query
# opts: GroupBy
# constraint: JobStatus == 1 && JobUniverse == 5 && member(BurstPartition, {"burst"})
# projection: JobStatus JobUniverse RequestCpus RequestMemory AcctGroup BurstPartition VMImage VMFlavor BurstFeatures
#
# The idle jobs of pool brecca as the schedd aggregates them for that query
# (condor_schedd.V6 autocluster.cpp JobAggregationResults::next, schedd.cpp
# command_query_job_aggregates; htcondor2 sends ProjectionIsGroupBy and MaxReturnedJobIds = 2):
# one ad per autocluster with the projected attributes each job holds, literal or
# expression, an attribute a job lacks left out, then the attributes the expressions refer
# to (ImageSize; MemoryUsage is undefined in a job that never ran, so left out), Id,
# JobCount, and JobIds ("first ... last"). Written by hand in that shape: no HTCondor
# daemon runs here. The jobs, the same as squeue_same_jobs.txt holds for Slurm:
#   101.0-39  projecta  request_cpus 1, request_memory 2048
#   102.0-5   projecta  request_cpus 4, request_memory 8 GB, +VMImage "ubuntu-24.04"
#   103.0-24  projectb  request_cpus 1, no request_memory (25 KiB executable)
#   105.0-4   projectb  request_cpus 1, no request_memory (1000 KiB executable: another
#                       autocluster, through ImageSize, for the same burst group)
#   104.0-2   projectb  request_cpus 2, request_memory 4096, +BurstFeatures "avx2",
#                       +VMFlavor "c2.large"
#   106.0     projecta  held (JobStatus 5): not idle, in no autocluster here

JobStatus = 1
JobUniverse = 5
RequestCpus = 1
RequestMemory = 2048
AcctGroup = "projecta"
BurstPartition = "burst"
Id = 1
JobIds = "101.0 ... 101.39"
JobCount = 40

JobStatus = 1
JobUniverse = 5
RequestCpus = 4
RequestMemory = 8192
AcctGroup = "projecta"
BurstPartition = "burst"
VMImage = "ubuntu-24.04"
Id = 2
JobIds = "102.0 ... 102.5"
JobCount = 6

JobStatus = 1
JobUniverse = 5
RequestCpus = 1
RequestMemory = ifthenelse(MemoryUsage =!= undefined,MemoryUsage,(ImageSize + 1023) / 1024)
AcctGroup = "projectb"
BurstPartition = "burst"
ImageSize = 25
Id = 3
JobIds = "103.0 ... 103.24"
JobCount = 25

JobStatus = 1
JobUniverse = 5
RequestCpus = 2
RequestMemory = 4096
AcctGroup = "projectb"
BurstPartition = "burst"
VMFlavor = "c2.large"
BurstFeatures = "avx2"
Id = 4
JobIds = "104.0 ... 104.2"
JobCount = 3

JobStatus = 1
JobUniverse = 5
RequestCpus = 1
RequestMemory = ifthenelse(MemoryUsage =!= undefined,MemoryUsage,(ImageSize + 1023) / 1024)
AcctGroup = "projectb"
BurstPartition = "burst"
ImageSize = 1000
Id = 5
JobIds = "105.0 ... 105.4"
JobCount = 5
