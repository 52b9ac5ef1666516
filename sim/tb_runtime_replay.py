"""A runtime command stream (exion_tools/runtime) replayed on the core's RTL.

The runtime records what the host did and saw on the command-level model
(``exion_tools.runtime.backend.StreamLog``: commands with their stream data, mask-window
writes, and every frame, register, mask and SMEM read). This bench issues the same commands
and data through ``CoreTB`` (random pauses on every bus and stream), waits for the core to
go idle after each command, and compares each read with the recorded one: ``READ_OMEM``
frames, ``CYCLES``, ``BLOCKS``, ``DOMINANT`` / ``SKIP_K`` / ``SKIP_V``, the mask window after
``FFN_MASK`` and ``PREDICT``, SMEM after ``SCHEDULE``; at the end ``BYTES_IN`` /
``BYTES_OUT``. Environment: ``EXION_RUNTIME_LOG`` (the pickled log), ``EXION_RUNTIME_RESULT``
(a JSON file that receives the counts and the RTL's cycles).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.util import atomic_write
from exion_tools.runtime.backend import StreamLog
from sim.core_driver import CoreTB
from sim.tb_common import pack


async def _reg(tb: CoreTB, name: str) -> int:
    if name in ("DOMINANT", "SKIP_K", "SKIP_V"):
        return await tb.read(name + "_LO") | await tb.read(name + "_HI") << 32
    return await tb.read(name)


async def replay_log(tb: CoreTB, log: StreamLog) -> dict:
    """Issue every command and host access of ``log`` through ``tb``, waiting for the core to
    go idle after each command, and compare every recorded read with the RTL's (raises
    ``AssertionError`` on the first difference); ends with ``BYTES_IN`` / ``BYTES_OUT``.
    Returns ``{"commands", "compared", "cycles": [CYCLES read]}``."""
    w = tb.cfg.data_width
    counts = {"commands": 0, "compared": 0}
    cycles = []
    pending = None                      # count of the READ_OMEM whose frame comes next
    for i, e in enumerate(log.entries):
        kind = e[0]
        if kind == "cmd":
            _, op, fields, imem, wmem = e
            await tb.issue(op, **fields)
            for src, beats in ((tb.src_i, imem), (tb.src_w, wmem)):
                if beats is not None:
                    await src.send(AxiStreamFrame([pack(b, w) for b in beats]))
            pending = fields["count"] if op == "READ_OMEM" else None
            if pending is None:
                await tb.expect_ok()
            counts["commands"] += 1
            continue
        if kind == "frame":
            got = np.array(await tb.recv_omem(pending), np.int64).T
            await tb.expect_ok()
            want = e[1]
        elif kind == "reg":
            got, want = await _reg(tb, e[1]), e[2]
            if e[1] == "CYCLES":
                cycles.append(got)
        elif kind == "mask_write":
            await tb.write_mask(e[1])
            continue
        elif kind == "mask_read":
            got, want = await tb.read_mask(e[1].shape[1]), e[1]
        elif kind == "smem":
            got, want = await tb.read_smem(len(e[1])), e[1]
        else:
            raise AssertionError(f"entry {i}: unknown kind {kind!r}")
        assert np.array_equal(np.asarray(got), np.asarray(want)), \
            f"entry {i} ({kind} {e[1] if kind == 'reg' else ''}): RTL {got}, model {want}"
        counts["compared"] += 1
    await tb.check_traffic()
    counts["cycles"] = cycles
    return counts


@cocotb.test()
async def replay(dut):
    """Every recorded read equals the RTL's."""
    tb = await CoreTB.started(dut)
    log = StreamLog.loads(Path(os.environ["EXION_RUNTIME_LOG"]).read_bytes())
    counts = await replay_log(tb, log)
    counts["sim_cycles"] = tb.cycle
    out = os.environ.get("EXION_RUNTIME_RESULT")
    if out:
        atomic_write(out, json.dumps(counts))
