"""The gather engine (hw/core_gather.py): a sparse GEMM's weights fetched through the master
port by the ConMerge vectors in SMEM, under Icarus and Verilator on the two small
configurations of tests/test_core.py (shared builds), against cocotbext-axi's AxiRam with
random pauses on every channel (sim/tb_core_gather.py); and the golden gather
(golden.core_gather.gather) against golden.sdue.wmem_image on seeded random masks."""

import numpy as np
import pytest

from exion.limits import CORE_READ_BURST, GATHER_AHEAD
from exion.regmap import encode
from golden import conmerge, core_gather, core_mem, dma, intsem
from golden.core_model import CoreModel
from golden.sdue import wmem_image
from sim.runner import SIMULATORS, run_bench
from tests.test_core import CONFIGS


def _setup(cfg, seed, p, n=None):
    rng = np.random.default_rng(seed)
    k = 2 * cfg.lanes + 3
    n = n or 3 * cfg.cols + 1
    kc = intsem.lane_chunks(k, cfg.lanes)
    w = rng.integers(-100, 101, (k, n))
    mask = rng.random((cfg.rows, n)) < p
    ib, _ = core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)
    bb = cfg.bus_bytes
    stride = (-(-kc * ib // bb) + 1) * bb
    port = core_mem.MemPort(bytearray(1 << 16))
    pad = np.zeros((kc * cfg.lanes, n), np.int64)
    pad[:k] = w
    core_mem.place_rows(port.mem, dma.Descriptor(0x1000, kc * ib, n, stride),
                        core_mem.lane_rows(pad.T.reshape(n, kc, cfg.lanes), cfg.data_width))
    sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
    return w, sched, kc, stride, port, ib, bb


def _image(items, cfg, n_blocks, kc):
    v = np.array([core_mem.unpack_lanes(i, cfg.data_width, cfg.lanes) for i in items])
    return v.reshape(cfg.cols, cfg.merge_degree, n_blocks * kc, cfg.lanes).transpose(0, 2, 1, 3)


@pytest.mark.parametrize("name", ["4x4", "8x3"])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_golden_gather_is_wmem_image(name, p):
    """The gathered WMEM is golden.sdue.wmem_image; only named rows are read (their whole bus
    words), once per slot; no block: 1 cycle."""
    cfg = CONFIGS[name]
    w, sched, kc, stride, port, ib, bb = _setup(cfg, 7, p)
    g = core_gather.gather(port, sched.blocks, 0x1000, stride, kc, (0x1000, 0x8000), cfg.cols,
                        cfg.merge_degree, bb, ib)
    assert g.fault is None
    nb = len(sched.blocks)
    named = sum(int((b.slots >= 0).sum()) for b in sched.blocks)
    assert len(g.descriptors) == named
    assert g.words * bb == core_gather.gather_bytes(sched.blocks, kc, cfg.cols, cfg.merge_degree,
                                                 bb, ib) == named * -(-kc * ib // bb) * bb
    if nb:
        assert np.array_equal(_image(g.items, cfg, nb, kc), wmem_image(w, sched, cfg))
    else:
        assert g.items == [] and g.cycles == 1


@pytest.mark.parametrize("name", ["4x4", "8x3"])
@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("gap", [0, 3])
def test_golden_gather_cycles(name, p, gap):
    """The overlapped gather's cycles lie between its bound (one lane vector a cycle into
    WMEM after the take) and the rows fetched one after the other (each row's
    golden.core_mem.load_cycles, an unused slot count + 1); a deeper slot FIFO never costs
    cycles, and one slot ahead is slower than GATHER_AHEAD where rows are named."""
    cfg = CONFIGS[name]
    ib, _ = core_mem.item_bytes(cfg.lanes, cfg.rows, cfg.data_width)
    bb, lat = cfg.bus_bytes, 2 + core_mem.READ_FIFO_DELAY
    for kc in (1, 3, 16):
        rng = np.random.default_rng(kc)
        mask = rng.random((cfg.rows, 3 * cfg.cols + 1)) < p
        sched = conmerge.cau_schedule(mask, cfg, token_sort="none")
        slots = core_gather.gather_slots(sched.blocks, cfg.cols, cfg.merge_degree)
        stride = (-(-kc * ib // bb) + gap) * bb
        descs = [core_gather.gather_descriptor(0x1000, stride, ch, kc, ib)
                 for *_x, ch in slots if ch >= 0]
        args = (sched.blocks, descs, cfg.cols, cfg.merge_degree, kc, bb, ib, lat)
        got = core_gather.gather_cycles(*args)
        serial = 1 + sum(kc + 1 if ch < 0 else
                         core_mem.load_cycles(descs[sum(s[3] >= 0 for s in slots[:i])], bb,
                                              ib, kc, lat, max_burst=CORE_READ_BURST)
                         for i, (*_x, ch) in enumerate(slots))
        assert 1 + len(slots) * kc <= got < serial
        depths = [core_gather.gather_cycles(*args, ahead=a) for a in (1, 2, 4, GATHER_AHEAD)]
        assert depths == sorted(depths, reverse=True) and depths[0] > depths[-1]


def test_golden_gather_faults():
    """A row past the region stops the gather before it is read; a bus fault inside a row
    keeps that row's whole items (golden.core_mem.load_items) and nothing after."""
    cfg = CONFIGS["4x4"]
    w, sched, kc, stride, port, ib, bb = _setup(cfg, 3, 1.0)
    n = w.shape[1]
    last_end = 0x1000 + (n - 1) * stride + -(-kc * ib // bb) * bb
    args = (cfg.cols, cfg.merge_degree, bb, ib)
    ok = core_gather.gather(port, sched.blocks, 0x1000, stride, kc, (0x1000, last_end), *args)
    assert ok.fault is None
    bad = core_gather.gather(port, sched.blocks, 0x1000, stride, kc, (0x1000, last_end - bb),
                          *args)
    slots = core_gather.gather_slots(sched.blocks, cfg.cols, cfg.merge_degree)
    stop = next(i for i, s in enumerate(slots) if s[3] == n - 1)
    assert bad.fault == "DMA_REGION" and len(bad.items) == stop * kc
    assert bad.items == ok.items[:stop * kc]
    port.fault = range(0x1000 + 2 * stride + ib, 0x1000 + 2 * stride + ib + 1)
    f = core_gather.gather(port, sched.blocks, 0x1000, stride, kc, (0x1000, 0x8000), *args)
    assert f.fault == "DMA_SLVERR" and f.items == ok.items[:len(f.items)]
    assert len(f.items) < len(ok.items)
    # an address past 32 bits lies outside every region
    assert core_gather.gather_descriptor(0xFFFFFF00, 0x100, 1, kc, ib) is None


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", ["4x4", "8x3"])
def test_core_gather(sim, name):
    run_bench(CONFIGS[name], "core", sim, "sim.tb_core_gather")


def test_model_region_lock():
    """The command-level model refuses REGION_BASE / REGION_END writes while a MEM command
    waits in its queue (behind a stream load without its beats), takes them once it has run;
    a MEM command refused at issue locks nothing."""
    cfg = CONFIGS["4x4"]
    m = CoreModel(cfg)
    m.port = core_mem.MemPort(bytearray(1 << 16))
    bb = cfg.bus_bytes
    m.write("REGION_BASE", 0x1000)
    m.write("REGION_END", 0x8000)
    assert m.issue(*encode("LOAD_IMEM", base=0, count=1, buf=0)) == 0
    mem = dict(flags=("MEM",), buf=0, base=0, count=1, stride=bb)
    assert m.issue(*encode("LOAD_WMEM", addr=0x1000, **mem)) == 0
    m.run()
    assert m.region_locked
    for name in ("REGION_BASE", "REGION_END"):
        m.write(name, 0x2000)
    assert (m.regs.region_base, m.regs.region_end) == (0x1000, 0x8000)
    m.push_imem(np.zeros((cfg.rows, cfg.lanes), np.int64))
    m.run()
    assert not m.region_locked and not m.state.queue
    m.write("REGION_END", 0x4000)
    assert m.regs.region_end == 0x4000
    assert m.issue(*encode("LOAD_IMEM", base=0, count=1, buf=0)) == 0
    assert m.issue(*encode("LOAD_WMEM", addr=0x1000 + bb // 2, **mem)) != 0     # DMA_ALIGN
    m.clear_error()
    assert not m.region_locked
    m.write("REGION_END", 0x5000)
    assert m.regs.region_end == 0x5000
