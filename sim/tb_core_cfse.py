"""cocotb bench of the core's CFSE commands (``GELU``, ``RESIDUAL``, ``LAYERNORM``,
``SOFTMAX``; hw/core_cfse.py) through the host interface (sim/core_driver.py, random pauses on
AXI4-Lite and every stream).

Every command goes to the RTL and to the command-level model (golden/core_model.py), which
gives every expected value: the IMEM a CFSE command writes is read back through an identity
``GEMM`` into OMEM and ``READ_OMEM`` (the host has no IMEM window), the keep-mask through the
mask window, ``CYCLES`` after each command (``golden.cycle_model.cfse_command_cycles``),
``CAUSE`` of refused commands, ``DONE`` at the end.

Tests: ``chain`` (FC1 -> GELU with the FFN-Reuse keep-mask -> FC2 on chip), ``commands``
(seeded random commands of every opcode plus extremes), ``errors`` (a bad field of each check).
"""

from __future__ import annotations


import cocotb
import numpy as np
from cocotbext.axi import AxiStreamFrame

from exion.regmap import CAUSES, encode
from golden.core_model import CoreModel
from golden.sdue import dense_wmem_image
from sim.core_driver import CoreTB
from sim.tb_common import pack

#: IMEM words a readback covers (identity GEMM of READ_WORDS * lanes channels).
READ_WORDS = 4


#: The model lives as long as the simulation: memories keep their contents across tests.
_MODEL: list = []


class Mirror:
    """One host, two cores: the RTL (``tb``) and the command-level model (``model``), reset
    together at the start of each test."""

    def __init__(self, tb: CoreTB):
        self.tb, self.cfg = tb, tb.cfg
        if not _MODEL:
            _MODEL.append(CoreModel(tb.cfg))
        self.model = _MODEL[0]
        self.model.reset()

    async def cmd(self, op, expect=0, **fields):
        """Issue to both; with ``expect`` a cause, check the refusal and clear it."""
        args, word = encode(op, **fields)
        cause = self.model.issue(args, word)
        assert cause == expect, f"{op} {fields}: model cause {cause}, expected {expect}"
        await self.tb.issue_raw(args, word, record=not expect)
        self.model.run()
        if expect:
            s = await self.tb.wait_idle()
            got = await self.tb.read("CAUSE")
            assert s["error"] and got == expect, f"{op} {fields}: CAUSE {got}, expected {expect}"
            await self.tb.write("CTRL", 1)
            self.model.clear_error()

    async def check_cycles(self, label):
        await self.tb.expect_ok()
        got, want = await self.tb.read("CYCLES"), self.model.regs.cycles
        assert got == want, f"{label}: CYCLES {got}, model {want}"
        return got

    async def load_imem(self, buf, x):
        """Rows ``x`` (rows, words * lanes) into IMEM ``buf`` from word 0."""
        cfg = self.cfg
        words = x.shape[1] // cfg.lanes
        beats = x.reshape(-1, cfg.lanes)
        args, word = encode("LOAD_IMEM", base=0, count=words, buf=buf)
        self.model.issue(args, word)
        self.model.push_imem(beats)
        self.model.run()
        await self.tb.issue_raw(args, word)
        await self.tb.src_i.send(AxiStreamFrame([pack(b, cfg.data_width) for b in beats]))

    async def load_wmem(self, buf, w):
        """Weights ``w`` (K, N) in the dense layout, stream 0, into WMEM ``buf``."""
        cfg = self.cfg
        img = dense_wmem_image(w, cfg)[:, :, :1, :]
        beats = img.transpose(0, 2, 1, 3).reshape(-1, cfg.lanes)
        args, word = encode("LOAD_WMEM", base=0, count=img.shape[1], buf=buf, streams=1)
        self.model.issue(args, word)
        self.model.push_wmem(beats)
        self.model.run()
        await self.tb.issue_raw(args, word)
        await self.tb.src_w.send(AxiStreamFrame([pack(b, cfg.data_width) for b in beats]))

    async def read_omem(self, buf, base, count, label):
        args, word = encode("READ_OMEM", base=base, count=count, buf=buf)
        self.model.issue(args, word)
        want = self.model.run()[-1].frame.T
        await self.tb.issue_raw(args, word)
        got = await self.tb.recv_omem(count)
        bad = np.argwhere(got != want)
        assert not len(bad), (f"{label}: {len(bad)} words differ, first (row, addr) "
                              f"{tuple(bad[0])}: got {got[tuple(bad[0])]}, "
                              f"golden {want[tuple(bad[0])]}")

    async def gemm(self, **fields):
        await self.cmd("GEMM", **fields)
        await self.check_cycles("GEMM")

    async def read_imem(self, ibuf, label, ident_wbuf, obuf):
        """IMEM ``ibuf`` words 0..READ_WORDS-1 through the identity weights in ``ident_wbuf``
        into OMEM ``obuf`` and out (compared with the model's)."""
        n = READ_WORDS * self.cfg.lanes
        await self.gemm(kc=READ_WORDS, shift=0, n_ch=n, ibuf=ibuf, wbuf=ident_wbuf, obuf=obuf,
                        n_rows=self.cfg.rows)
        await self.read_omem(obuf, 0, n, label)

    async def write_mask(self, mask):
        """Mask window, channels 0..: both cores."""
        await self.tb.write_mask(mask)
        m = self.tb.map
        for ch in range(mask.shape[1]):
            cv = sum(1 << r for r in range(mask.shape[0]) if mask[r, ch])
            for i in range(m.mask_words):
                self.model.write(m.mask_base + 4 * (ch * m.mask_stride + i),
                                 (cv >> (32 * i)) & 0xFFFFFFFF)

    async def check_mask(self, n, label):
        got = await self.tb.read_mask(n)
        want = self.model.state.mask[:n].T
        assert np.array_equal(got, want), f"{label}: keep-mask differs from golden"


async def setup_mirror(dut):
    tb = await CoreTB.started(dut)
    mir = Mirror(tb)
    cfg = tb.cfg
    assert cfg.words("imem") >= READ_WORDS and cfg.imem_buffers >= 2 and cfg.omem_buffers >= 2
    n = READ_WORDS * cfg.lanes
    await mir.load_wmem(1, np.eye(n, dtype=np.int64))      # the readback's identity
    return mir


def rand_codes(rng, shape, cfg, scale=1.0):
    hi = int(cfg.data_max * scale)
    return rng.integers(-hi, hi + 1, size=shape, dtype=np.int64)


async def fill_omem(mir, rng, obuf, ch_base, scale=1.0):
    """Random codes into OMEM ``obuf`` channels ``ch_base ..`` (READ_WORDS * lanes of them):
    random IMEM rows through the identity."""
    cfg = mir.cfg
    n = READ_WORDS * cfg.lanes
    await mir.load_imem(0, rand_codes(rng, (cfg.rows, n), cfg, scale))
    await mir.gemm(kc=READ_WORDS, shift=0, n_ch=n, ch_base=ch_base, ibuf=0, wbuf=1, obuf=obuf,
                   n_rows=cfg.rows)


@cocotb.test()
async def chain(dut):
    """FC1 -> GELU (with the FFN-Reuse keep-mask from the GELU output) -> FC2, on chip."""
    mir = await setup_mirror(dut)
    cfg = mir.cfg
    rng = np.random.default_rng(7)
    L = cfg.lanes
    k1, hid = 2 * L, READ_WORDS * L                 # FC1: k1 -> hid, FC2: hid -> k1
    x = np.zeros((cfg.rows, k1), np.int64)
    x[:] = rand_codes(rng, x.shape, cfg, 0.5)
    await mir.load_imem(0, x)
    await mir.load_wmem(0, rand_codes(rng, (k1, hid), cfg, 0.5))
    await mir.gemm(kc=k1 // L, shift=12, n_ch=hid, ibuf=0, wbuf=0, obuf=0, n_rows=cfg.rows)
    # FC1 codes read with 8 fraction bits -> Q5.10: in_shift 2; GELU output back to 8 fraction bits
    await mir.cmd("GELU", ch_base=0, n_ch=hid, ibuf=1, obuf=0, base=0, n_rows=cfg.rows,
                  in_shift=2, out_shift=2, ffn_mask=1, ffn_th=200)
    cyc = await mir.check_cycles("GELU")
    dut._log.info("GELU of %d channels x %d rows: %d cycles", hid, cfg.rows, cyc)
    await mir.check_mask(hid, "GELU keep-mask")
    keep = mir.model.state.mask[:hid, :cfg.rows]
    assert 0 < keep.sum() < keep.size, "test data must give a mixed keep-mask"
    await mir.load_wmem(0, rand_codes(rng, (hid, k1), cfg, 0.5))
    await mir.gemm(kc=READ_WORDS, shift=12, n_ch=k1, ibuf=1, wbuf=0, obuf=1, n_rows=cfg.rows)
    await mir.read_omem(1, 0, k1, "FC2 after on-chip GELU")
    await mir.read_imem(1, "GELU output in IMEM", 1, 0)


def _fields(rng, cfg, op):
    """Random good fields of ``op`` (channels within one readback)."""
    L, Do = cfg.lanes, cfg.words("omem")
    n = int(rng.integers(1, READ_WORDS * L + 1))
    base = int(rng.integers(0, READ_WORDS - (-(-n // L)) + 1))
    f = dict(n_ch=n, base=base, ch_base=int(rng.integers(0, Do - READ_WORDS * L + 1)),
             n_rows=int(rng.integers(1, cfg.rows + 1)), ibuf=1, obuf=0,
             in_shift=int(rng.integers(0, 5)), out_shift=int(rng.integers(0, 7)))
    if op == "GELU":
        f.update(ffn_mask=int(rng.integers(0, 2)), ffn_th=int(rng.integers(0, 3000)))
    elif op == "RESIDUAL":
        f.update(xbuf=int(rng.integers(0, 2)), gate=int(rng.choice([1024, -700, 3000])))
    elif op == "LAYERNORM":
        f.update(mbuf=1, sc_base=int(rng.integers(0, Do - n + 1)),
                 sh_base=int(rng.integers(0, Do - n + 1)))
    else:
        f.update(key_mask=int(rng.integers(0, 2)))
    return f


@cocotb.test()
async def commands(dut):
    """Seeded random commands of every CFSE opcode, plus extremes (one channel, one row,
    saturating shifts, all keys masked, whole 64-channel rows), each bit-exact and with the model's CYCLES."""
    mir = await setup_mirror(dut)
    cfg = mir.cfg
    rng = np.random.default_rng(11)
    n, Do = READ_WORDS * cfg.lanes, cfg.words("omem")
    extremes = [("GELU", dict(n_ch=1, n_rows=1, in_shift=15, out_shift=0)),
                ("SOFTMAX", dict(n_ch=n, key_mask=1, n_rows=cfg.rows)),
                ("RESIDUAL", dict(in_shift=4, out_shift=0, gate=-32768)),
                ("LAYERNORM", dict(n_ch=1, n_rows=cfg.rows)),
                # whole rows: the LayerNorm's modulation reads outlast its statistics
                ("LAYERNORM", dict(n_ch=Do, n_rows=cfg.rows, ch_base=0, sc_base=0, sh_base=0,
                                   in_shift=4)),
                ("SOFTMAX", dict(n_ch=min(64, Do), n_rows=cfg.rows, ch_base=0, in_shift=4,
                                 key_mask=0))]
    plan = extremes + [(op, {}) for _ in range(2)
                       for op in ("GELU", "RESIDUAL", "LAYERNORM", "SOFTMAX")]
    cycles = {}
    for i, (op, over) in enumerate(plan):
        f = _fields(rng, cfg, op)
        f.update(over)
        f["n_rows"] = min(f["n_rows"], cfg.rows)
        f["base"] = max(0, min(f["base"], READ_WORDS - (-(-f["n_ch"] // cfg.lanes))))
        await fill_omem(mir, rng, 0, f["ch_base"], scale=float(rng.choice([0.05, 1.0])))
        if op == "LAYERNORM":
            await fill_omem(mir, rng, 1, 0, 0.3)
        if op == "SOFTMAX" and f["key_mask"]:
            mask = rng.random((cfg.rows, cfg.words("omem"))) < (0.0 if i == 1 else 0.6)
            await mir.write_mask(mask)
        if op == "RESIDUAL":
            await mir.load_imem(f["xbuf"], rand_codes(rng, (cfg.rows, n), cfg))
        await mir.cmd(op, **f)
        cycles[f"{op} {f['n_ch']}x{f['n_rows']}"] = await mir.check_cycles(f"{op} {f}")
        if op == "GELU" and f["ffn_mask"]:
            await mir.check_mask(cfg.words("omem"), f"{op} {f} keep-mask")
        await mir.read_imem(1, f"{op} {f}", 1, 1)
    dut._log.info("CFSE command cycles: %s", cycles)
    assert await mir.tb.read("DONE") == mir.model.regs.done


@cocotb.test()
async def errors(dut):
    """Every check of the CFSE opcodes refused with its cause (golden.core_checks order);
    the model refuses the same; a refused command changes nothing."""
    mir = await setup_mirror(dut)
    cfg = mir.cfg
    Do, Di, L = cfg.words("omem"), cfg.words("imem"), cfg.lanes
    good = dict(n_ch=L, n_rows=1, ibuf=0, obuf=0)
    bad = [
        ("GELU", dict(ibuf=cfg.imem_buffers), "BAD_BUFFER"),
        ("SOFTMAX", dict(obuf=cfg.omem_buffers), "BAD_BUFFER"),
        ("RESIDUAL", dict(xbuf=cfg.imem_buffers), "BAD_BUFFER"),
        ("LAYERNORM", dict(mbuf=cfg.omem_buffers), "BAD_BUFFER"),
        ("GELU", dict(n_ch=0), "BAD_FIELD"),
        ("LAYERNORM", dict(n_rows=0), "TILE"),
        ("RESIDUAL", dict(n_rows=cfg.rows + 1), "TILE"),
        ("SOFTMAX", dict(n_ch=65), "TILE"),
        ("LAYERNORM", dict(n_ch=Do + 1), "TILE"),
        ("GELU", dict(ch_base=Do - L + 1), "ADDR_RANGE"),
        ("SOFTMAX", dict(base=Di), "ADDR_RANGE"),
        ("RESIDUAL", dict(n_ch=Di * L + 1), "ADDR_RANGE"),
        ("LAYERNORM", dict(sc_base=Do - L + 1), "ADDR_RANGE"),
        ("LAYERNORM", dict(sh_base=Do), "ADDR_RANGE"),
    ]
    for op, over, cause in bad:
        f = dict(good)
        f.update(over)
        await mir.cmd(op, expect=CAUSES[cause], **f)
    await mir.cmd("GELU", **good)        # still works
    await mir.check_cycles("GELU after refusals")
    assert await mir.tb.read("DONE") == mir.model.regs.done
