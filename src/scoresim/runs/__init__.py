"""Runs: a scenario run into its run folder; the folder's layout, atomic writes, checkpoints and the
registry of runs."""
