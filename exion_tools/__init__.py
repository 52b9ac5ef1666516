"""The tools layer: the ``exion`` command line, synthesis, FPGA build and timing constraints.

Sits on top of everything: it may import the spec layer (:mod:`exion`), the golden model
(:mod:`golden`) and the RTL (:mod:`hw`); nothing below imports it (docs/architecture.md).
"""
