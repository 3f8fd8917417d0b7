"""Slurm, driven through its command-line tools (sacctmgr -n -P, sacct --json, scontrol -o).

The CLIs are Slurm's stable interface across versions; pyslurm ties us to one libslurm.
"""
