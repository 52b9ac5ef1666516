"""Bounded formal proofs of the CAU and the LOD (see formal/run.py and docs/cau.md)."""
