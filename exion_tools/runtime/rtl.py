"""The ``rtl`` backend: a command stream the runtime recorded on the model, replayed on the
core's RTL (``sim/tb_runtime_replay.py``, cocotb with Verilator or Icarus), every frame,
register, mask and SMEM read compared, and the RTL's ``CYCLES`` returned.

The host's decisions depend only on what it read back (frames, masks, SMEM vectors); with
every read identical, the RTL computes the same run, so the replay is the run on the RTL.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from exion.config import PRESETS, ExionConfig
from exion.util import atomic_write

from .backend import StreamLog

__all__ = ["replay", "RTL_MAX_DPUS"]

#: Fields the RTL does not depend on (algorithm settings the host applies, figures of the
#: cycle model): set to the preset's before the build, so that runs share one simulation build.
HOST_FIELDS = ("iterations", "ffn_reuse_n", "ffn_target_sparsity", "ep_q_th", "clock_mhz",
               "offchip_bytes_per_cycle", "cores", "token_sort")

#: Largest array (rows x cols) the rtl backend simulates: a 16 x 16 core under a cocotb
#: simulator takes minutes to build and hours to run a whole model.
RTL_MAX_DPUS = 64


def replay(log: StreamLog, sim: str = "verilator") -> dict:
    """Replay ``log`` on the RTL of ``log.cfg``; returns ``{"commands", "compared",
    "cycles": [CYCLES of each execute command], "sim_cycles"}``. Raises
    ``AssertionError`` on the first difference."""
    from sim.runner import run_bench

    cfg: ExionConfig = log.cfg.replace(**{f: getattr(PRESETS["exion"], f) for f in HOST_FIELDS})
    with tempfile.TemporaryDirectory(prefix="exion_replay_") as tmp:
        lp, rp = Path(tmp) / "log.pkl", Path(tmp) / "result.json"
        atomic_write(lp, log.dumps())
        run_bench(cfg, "core", sim, "sim.tb_runtime_replay",
                  extra_env={"EXION_RUNTIME_LOG": str(lp), "EXION_RUNTIME_RESULT": str(rp),
                             "EXION_CORE_PAUSE": "0.1"})
        return json.loads(rp.read_text())
