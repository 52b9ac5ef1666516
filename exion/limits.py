"""Limits and widths shared by the golden model, the RTL and the tools.

Part of the spec layer: imports nothing of the project. A number that both sides of the design
must agree on (a field width of the schedule format, the CAU's beat, the predictor's key and
head-dimension limits) is written here once; ``golden/`` and ``hw/`` import it from here.
"""

from __future__ import annotations

__all__ = ["GROUP_BITS", "CHANNEL_BITS", "CAU_BEAT", "MAX_KEYS", "MAX_HEAD_DIM", "QUEUE_DEPTH"]

#: Schedule format (docs/schedule.md): bits of a block's row-group index and of each slot's
#: channel index. A mask may have at most ``2**GROUP_BITS`` row groups and
#: ``2**CHANNEL_BITS`` channels.
GROUP_BITS = 16
CHANNEL_BITS = 16

#: Channels per CAU input beat (and per mask-memory word).
CAU_BEAT = 8

#: Keys per query row of the eager predictor's keep-mask; query dimension (kc * lanes) limit.
MAX_KEYS = 64
MAX_HEAD_DIM = 72

#: Commands the core's queue holds besides the one each engine is executing.
QUEUE_DEPTH = 4
