from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Job submission for people (CLI, web form, API): each job goes to Slurm as the person
    who asks, with a token for them alone, after the ledger says they may run it."""

    name = "allotment.jobs"
    verbose_name = "Jobs"
