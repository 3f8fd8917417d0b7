# call: Schedd.query
# opts: GroupBy
# constraint: JobStatus == 1 && JobUniverse == 5 && member(BurstPartition, {"burst"})
# projection: JobStatus JobUniverse RequestCpus RequestMemory AcctGroup BurstPartition
#
# Pool brecca once job 130.0 runs: no idle job, no autocluster. Written by hand: no
# HTCondor daemon runs here.
