"""cocotb bench of the mask-memory halves of the CFSE commands (``ARG2.mhalf`` of ``GELU`` with
``ffn_mask`` and ``SOFTMAX`` with ``key_mask``; hw/core_cfse.py, hw/core_dispatch.py) through
the host interface, random pauses on AXI4-Lite and every stream (sim/core_driver.py), against
the command-level model (golden/core_model.py, golden/core_cfse.py) as in sim/tb_core_cfse.py.

Tests: ``halves`` (a ``GELU`` keep-mask into each half and a ``SOFTMAX`` masked by each half:
the whole mask memory, the IMEM results and ``CYCLES`` bit-exact with the model; the test
asserts that its data would tell a missing half offset apart), ``refusals`` (``mhalf`` = 3
with the mask flag is ``BAD_FIELD``, without it ignored; a channel range past the half is
``ADDR_RANGE``), ``beside`` (a split ``SCHEDULE`` and a ``GELU`` writing the other mask half
run side by side in both orders, ``CAU_BESIDE`` grows; on the same half, or a whole-mask
``GELU``, they run one after the other, ``CAU_BESIDE`` stays; SMEM, ``BLOCKS_H1/H2``,
``SCHED_CYCLES``, the mask and the IMEM results equal the model's each time).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.regmap import CAUSES, encode, mask_half
from golden import cfse
from golden.sdue import dense_wmem_image
from sim.tb_common import pack
from sim.tb_core_cfse import READ_WORDS, fill_omem, setup_mirror

#: Registers of the SCHEDULE side compared with the model after each pair.
COMPARED = ("BLOCKS_H1", "BLOCKS_H2", "SCHED_CYCLES", "CYCLES", "DONE")


def _gelu(cfg, n, ch_base, mhalf, ffn_th=300):
    return dict(n_ch=n, ch_base=ch_base, ibuf=1, obuf=0, base=0, n_rows=cfg.rows, in_shift=2,
                out_shift=2, ffn_mask=1, ffn_th=ffn_th, mhalf=mhalf)


async def _check_all(mir, label):
    """The whole mask memory, SMEM and the COMPARED registers equal the model's."""
    tb, m, model = mir.tb, mir.tb.map, mir.model
    await tb.expect_ok()
    await mir.check_mask(m.channels, f"{label}: mask memory")
    for name in COMPARED:
        got, want = await tb.read(name), model.read(name)
        assert got == want, f"{label}: {name} {got}, model {want}"
    for b in range(mir.cfg.schedule_depth):
        for i in range(m.smem_words):
            a = m.smem_base + 4 * (b * m.smem_stride + i)
            got, want = await tb.read(a), model.read(a)
            assert got == want, f"{label}: SMEM block {b} word {i}: {got:#x}, model {want:#x}"


@cocotb.test()
async def halves(dut):
    """GELU keep-masks into each half, SOFTMAX key masks from each half, bit-exact."""
    mir = await setup_mirror(dut)
    cfg, CH = mir.cfg, mir.tb.map.channels
    rng = np.random.default_rng(21)
    n = READ_WORDS * cfg.lanes
    for mhalf in (1, 2, 0):
        first, size = mask_half(CH, mhalf)
        ch_base = min(size, cfg.words("omem")) - n         # the part's last channels
        await mir.write_mask(rng.random((cfg.rows, CH)) < 0.5)
        await fill_omem(mir, rng, 0, ch_base)
        before = mir.model.state.mask.copy()
        await mir.cmd("GELU", **_gelu(cfg, n, ch_base, mhalf))
        await mir.check_cycles(f"GELU mhalf {mhalf}")
        await mir.check_mask(CH, f"GELU mhalf {mhalf}: mask memory")
        await mir.read_imem(1, f"GELU mhalf {mhalf}", 1, 1)
        after = mir.model.state.mask
        keep = after[first + ch_base:first + ch_base + n]
        assert 0 < keep.sum() < keep.size, "test data must give a mixed keep-mask"
        if first:       # the keep-mask at the part's offset, not at channel ch_base
            unshifted = before.copy()
            unshifted[ch_base:ch_base + n] = keep
            assert not np.array_equal(unshifted, after), "a missing offset would pass"
        await mir.write_mask(rng.random((cfg.rows, CH)) < 0.5)
        f = dict(n_ch=n, ch_base=ch_base, ibuf=1, obuf=0, base=0, n_rows=cfg.rows, in_shift=2,
                 out_shift=0, key_mask=1, mhalf=mhalf)
        await mir.cmd("SOFTMAX", **f)
        await mir.check_cycles(f"SOFTMAX mhalf {mhalf}")
        await mir.read_imem(1, f"SOFTMAX mhalf {mhalf}", 1, 1)
        if first:       # the key mask of the part's offset gives other probabilities
            st = mir.model.state
            x = cfse.code_to_act(st.omem[0, :, ch_base:ch_base + n], 2)
            right = st.mask[first + ch_base:first + ch_base + n].T
            wrong = st.mask[ch_base:ch_base + n].T
            assert not np.array_equal(cfse.softmax(x, right), cfse.softmax(x, wrong)), \
                "a missing offset would pass"
    assert await mir.tb.read("DONE") == mir.model.regs.done


@cocotb.test()
async def refusals(dut):
    """mhalf = 3 with the mask flag: BAD_FIELD (ignored without it); past the half: ADDR_RANGE."""
    mir = await setup_mirror(dut)
    CH, L = mir.tb.map.channels, mir.cfg.lanes
    size = mask_half(CH, 1)[1]
    good = dict(n_ch=L, n_rows=1, ibuf=0, obuf=0)
    bad = [("GELU", dict(ffn_mask=1, mhalf=3), "BAD_FIELD"),
           ("SOFTMAX", dict(key_mask=1, mhalf=3), "BAD_FIELD"),
           ("GELU", dict(ffn_mask=1, mhalf=1, ch_base=size - L + 1), "ADDR_RANGE"),
           ("GELU", dict(ffn_mask=1, mhalf=2, ch_base=size - L + 1), "ADDR_RANGE"),
           ("SOFTMAX", dict(key_mask=1, mhalf=1, ch_base=size - L + 1), "ADDR_RANGE"),
           ("SOFTMAX", dict(key_mask=1, mhalf=2, ch_base=size), "ADDR_RANGE")]
    for op, over, cause in bad:
        await mir.cmd(op, expect=CAUSES[cause], **{**good, **over})
    for op in ("GELU", "SOFTMAX"):      # the field unread without the flag; the edge itself
        await mir.cmd(op, **{**good, "mhalf": 3, "ch_base": size})
        await mir.cmd(op, **{**good, "mhalf": 2, "ch_base": size - L,
                             {"GELU": "ffn_mask", "SOFTMAX": "key_mask"}[op]: 1})
        await mir.check_cycles(f"{op} at the half's edge")
    await mir.check_mask(CH, "after the refusals")
    assert await mir.tb.read("DONE") == mir.model.regs.done


async def _pair(mir, rng, first_cmd, second_cmd, label):
    """Both commands queued behind two LOAD_WMEMs that wait for their stream: the second one
    holds the queue's head until the first has its beats, so the pair reaches the dispatcher
    back to back (neither waits on the WMEM loader). Returns the ``CAU_BESIDE`` growth."""
    tb, cfg = mir.tb, mir.cfg
    frames = []
    for _ in range(2):
        img = dense_wmem_image(rng.integers(-3, 4, (cfg.lanes, cfg.cols)), cfg)[:, :, :1, :]
        beats = img.transpose(0, 2, 1, 3).reshape(-1, cfg.lanes)
        args, word = encode("LOAD_WMEM", base=0, count=img.shape[1], buf=0, streams=1)
        mir.model.issue(args, word)
        mir.model.push_wmem(beats)
        mir.model.run()
        await tb.issue_raw(args, word)
        frames.append(AxiStreamFrame([pack(b, cfg.data_width) for b in beats]))
    beside0 = await tb.read("CAU_BESIDE")
    for op, f in (first_cmd, second_cmd):
        await mir.cmd(op, **f)
    for frame in frames:
        await tb.src_w.send(frame)
    await _check_all(mir, label)
    await mir.read_imem(1, f"{label}: GELU output", 1, 1)
    return (await tb.read("CAU_BESIDE") - beside0) & 0xFFFFFFFF


@cocotb.test()
async def beside(dut):
    """A split SCHEDULE beside a GELU writing the other mask half; serial on a shared half."""
    mir = await setup_mirror(dut)
    cfg, CH = mir.cfg, mir.tb.map.channels
    rng = np.random.default_rng(5)
    n = READ_WORDS * cfg.lanes
    size = mask_half(CH, 1)[1]
    n_sched = min(size, 2 * cfg.cols)          # few vectors: no SMEM overflow
    cases = [  # (SCHEDULE's half and mhalf, GELU's mhalf, GELU first, side by side)
        (1, 2, True, True), (2, 1, False, True), (1, 1, False, False), (2, 2, True, False),
        (1, 0, True, False), (2, 0, False, False)]
    for s_half, g_mhalf, gelu_first, together in cases:
        label = f"SCHEDULE half {s_half} / GELU mhalf {g_mhalf}" + (" (GELU first)"
                                                                   if gelu_first else "")
        await mir.write_mask(rng.random((cfg.rows, CH)) < 0.3)
        await fill_omem(mir, rng, 0, 0)
        sched = ("SCHEDULE", dict(n_ch=n_sched, half=s_half, mhalf=s_half))
        gelu = ("GELU", _gelu(cfg, n, 0, g_mhalf, ffn_th=int(rng.integers(100, 600))))
        pair = (gelu, sched) if gelu_first else (sched, gelu)
        grew = await _pair(mir, rng, *pair, label)
        dut._log.info("%s: CAU_BESIDE +%d", label, grew)
        if together:
            assert grew > 0, f"{label}: did not run side by side"
        else:
            assert grew == 0, f"{label}: ran side by side on a shared mask half"
