"""Studies: what is made of many runs (sweeps, calibrations, comparisons) or of one run's files.

explain tells one person's credit file as a story; compare sets two runs side by side.
"""
