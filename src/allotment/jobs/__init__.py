"""People's own batch jobs, submitted to Slurm as themselves through slurmrestd."""
