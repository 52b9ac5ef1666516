"""The four CFSE units of one configuration side by side (top ``cfse``): the special-function
engine as a whole for the synthesis report and the FPGA build while it is not yet part of the
core. See ``docs/cfse.md`` and ``docs/synthesis.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from exion.cfse_format import MAX_LN_DIM
from exion.config import ExionConfig
from exion.limits import MAX_KEYS

from .cfse import CfseGelu, CfseLayerNorm, CfseResidual, CfseSoftmax

__all__ = ["CfseUnits"]


class CfseUnits(wiring.Component):
    """:class:`~hw.cfse.CfseGelu` and :class:`~hw.cfse.CfseResidual` (``lanes`` elements per
    beat), :class:`~hw.cfse.CfseSoftmax` (``exion.limits.MAX_KEYS`` keys) and
    :class:`~hw.cfse.CfseLayerNorm` (``MAX_LN_DIM`` channels), unconnected, with their ports
    prefixed ``gelu__``, ``softmax__``, ``layernorm__``, ``residual__``: the same units the
    ``cfse_*`` tops emit one by one.

    Parameters
    ----------
    cfg : ExionConfig
        Supplies ``lanes``.

    Members
    -------
    gelu, softmax, layernorm, residual : Out(the unit's signature)
    """

    #: Synthesis report unit (hw/library.py, docs/synthesis.md).
    report_unit = "cfse"

    def __init__(self, cfg: ExionConfig):
        if not isinstance(cfg, ExionConfig):
            raise TypeError(f"cfg must be an ExionConfig, not {cfg!r}")
        self._parts = {"gelu": CfseGelu(lanes=cfg.lanes),
                       "softmax": CfseSoftmax(max_keys=MAX_KEYS),
                       "layernorm": CfseLayerNorm(max_dim=MAX_LN_DIM),
                       "residual": CfseResidual(lanes=cfg.lanes)}
        super().__init__({n: Out(c.signature) for n, c in self._parts.items()})

    def elaborate(self, platform):
        m = Module()
        for name, part in self._parts.items():
            m.submodules[name] = part
            wiring.connect(m, wiring.flipped(getattr(self, name)), part)
        return m
