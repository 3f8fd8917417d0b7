"""HTCondor as the batch system burst feeds: its queue through the htcondor2 bindings
(queue.HTCondorQueue) and the startd configuration a burst VM boots with (contextualize)."""
