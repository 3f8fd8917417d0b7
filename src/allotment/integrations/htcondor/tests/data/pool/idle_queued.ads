# call: Schedd.query
# opts: GroupBy
# constraint: JobStatus == 1 && JobUniverse == 5 && member(BurstPartition, {"burst"})
# projection: JobStatus JobUniverse RequestCpus RequestMemory AcctGroup BurstPartition
#
# Pool brecca before the burst: job 130.0 of projecta (request_cpus 2, request_memory
# 1500) idle in the burst partition, as the schedd aggregates it for burst's query (see
# ../idle_autoclusters.ads for the shape). Written by hand: no HTCondor daemon runs here.

JobStatus = 1
JobUniverse = 5
RequestCpus = 2
RequestMemory = 1500
AcctGroup = "projecta"
BurstPartition = "burst"
Id = 1
JobCount = 1
JobIds = "130.0"
