# call: Schedd.query
# projection: ClusterId ProcId JobStatus JobUniverse RequestCpus RemoteHost AcctGroup BurstPartition JobBatchName JobCurrentStartDate RemoteWallClockTime CompletionDate EnteredCurrentStatus LastRemoteHost
#
# Pool brecca's schedd once job 130.0 has completed and left the queue (it is in the
# history): no job. Written by hand: no HTCondor daemon runs here.
