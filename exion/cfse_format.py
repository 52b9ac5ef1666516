"""Fixed-point formats, widths and tables of the special-function engine (CFSE).

Part of the spec layer: imports nothing of the project (only ``math``). The golden functions
(``golden/cfse.py``) and the RTL (``hw/cfse.py``) both take their constants and tables from
here, so the two sides cannot disagree. See ``docs/cfse.md`` for the formats and methods.

Formats (``Qi.f``: a signed integer code ``q`` standing for ``q * 2**-f``):

``ACT``  activations in and out of every CFSE function, adaLN scale and shift:
         signed 16 bits, Q5.10 (range [-32, 32), LSB 2**-10).
``PHI``  the GELU gate Phi(x): unsigned 17 bits, Q1.16 (0 .. 65536 = 1.0).
``EXP``  softmax numerators 2**(-z): unsigned 16 bits, Q1.15 (0 .. 32768 = 1.0).
``PROB`` softmax outputs: signed 16 bits, Q1.15, clipped to 32767 (so 1.0 reads 1 - 2**-15).
``NORM`` LayerNorm's normalized value before the affine step: signed 32 bits, Q15.16.
"""

from __future__ import annotations

import math

__all__ = [
    "ACT_BITS", "ACT_FRAC", "ACT_MIN", "ACT_MAX",
    "GELU_LO", "GELU_HI", "GELU_SEG_BITS", "GELU_SEGMENTS", "PHI_FRAC", "PHI_ONE", "PHI_TABLE",
    "LOG2E_FRAC", "LOG2E_Q", "Z_FRAC", "EXP_SEG_BITS", "EXP_SEGMENTS", "EXP_FRAC", "EXP_ONE",
    "EXP_TABLE", "EXP_MAX_SHIFT", "PROB_FRAC", "PROB_MAX", "RECIP_BITS", "RECIP_SHIFT",
    "SOFTMAX_SUM_BITS", "MAX_SOFTMAX_KEYS",
    "NORM_FRAC", "EPS_Q", "RSQRT_BITS", "LN_RECIP_BITS", "MAX_LN_DIM",
    "GELU_LATENCY", "RESIDUAL_LATENCY",
]

# ---- activations ---------------------------------------------------------------------------
ACT_BITS = 16
ACT_FRAC = 10
ACT_MIN = -(1 << (ACT_BITS - 1))
ACT_MAX = (1 << (ACT_BITS - 1)) - 1

# ---- GELU: y = x * Phi(x), Phi piecewise linear on [-8, 8) ---------------------------------
#: Codes below GELU_LO give Phi = 0 (y = 0); codes at or above GELU_HI give Phi = 1 (y = x).
GELU_LO = -8 << ACT_FRAC
GELU_HI = 8 << ACT_FRAC
#: Segment width is 2**GELU_SEG_BITS codes (1/16 in real units): 256 segments on [-8, 8).
GELU_SEG_BITS = 6
GELU_SEGMENTS = (GELU_HI - GELU_LO) >> GELU_SEG_BITS
PHI_FRAC = 16
PHI_ONE = 1 << PHI_FRAC


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


#: ``GELU_SEGMENTS + 1`` knots: ``round(Phi(k) * 2**16)`` at ``k = -8 + i/16``.
PHI_TABLE = tuple(
    int(math.floor(_phi((GELU_LO + (i << GELU_SEG_BITS)) / (1 << ACT_FRAC)) * PHI_ONE + 0.5))
    for i in range(GELU_SEGMENTS + 1))

# ---- softmax: exp(d) = 2**(-z), z = -d * log2(e) ------------------------------------------
LOG2E_FRAC = 15
#: round(log2(e) * 2**15) = 47274 (16 bits unsigned).
LOG2E_Q = int(math.floor(math.log2(math.e) * (1 << LOG2E_FRAC) + 0.5))
#: Fraction bits of z: ``z = (-d * LOG2E_Q + 2**8) >> 9`` (d is Q.10, LOG2E Q.15 -> Q.16).
Z_FRAC = 16
#: 2**(-r), r in [0, 1), piecewise linear on 64 segments.
EXP_SEG_BITS = 6
EXP_SEGMENTS = 1 << EXP_SEG_BITS
EXP_FRAC = 15
EXP_ONE = 1 << EXP_FRAC
#: ``EXP_SEGMENTS + 1`` knots: ``round(2**(-i/64) * 2**15)``; the last is 16384.
EXP_TABLE = tuple(int(math.floor(2.0 ** (-i / EXP_SEGMENTS) * EXP_ONE + 0.5))
                  for i in range(EXP_SEGMENTS + 1))
#: Integer parts q of z above this give 2**(-z) = 0 in Q1.15 (any q >= 17 does).
EXP_MAX_SHIFT = 31
PROB_FRAC = 15
PROB_MAX = (1 << PROB_FRAC) - 1
#: Row reciprocal ``R = floor(2**RECIP_BITS / S)``; ``p = min((e * R + 2**31) >> 32, PROB_MAX)``.
RECIP_BITS = 47
RECIP_SHIFT = RECIP_BITS - PROB_FRAC
#: Width of the row sum S of the numerators (``MAX_SOFTMAX_KEYS * 2**15 <= 2**27``).
SOFTMAX_SUM_BITS = 32
MAX_SOFTMAX_KEYS = 4096

# ---- LayerNorm -----------------------------------------------------------------------------
NORM_FRAC = 16
#: epsilon in ACT units squared: eps = EPS_Q * 2**-20 (9.5e-7, DiT uses 1e-6).
EPS_Q = 1
#: The radicand is normalized to RSQRT_BITS - 1 or RSQRT_BITS bits by an even shift before its
#: integer square root s (24 significant bits); the reciprocal is floor(2**LN_RECIP_BITS / s).
RSQRT_BITS = 48
LN_RECIP_BITS = 47
MAX_LN_DIM = 4096

# ---- RTL pipeline depths (hw/cfse.py builds them; golden.cycle_model counts with them) -----
#: Cycles from accepting a GELU beat to presenting its result without back-pressure: ROM read,
#: interpolation product, interpolation sum, x * phi, round.
GELU_LATENCY = 5
#: The same for the residual add: the gate product, then round, add and saturate.
RESIDUAL_LATENCY = 2
