"""Evaluation: verification, open-set identification, planning, fairness. Uses ``engine`` only."""
