"""The AXI4 arbiter (hw/axi_arbiter.py): 2 and 3 DMA masters sharing cocotbext-axi's AxiRam
under Icarus and Verilator (sim/tb_axi_arbiter.py), the golden grant order, and the
parameter checks."""

import gc

import pytest

from exion.config import preset
from golden import axi_arbiter as A
from sim.runner import SIMULATORS, run_bench

#: A small core; only ``bus_width`` matters to the arbiter top.
CFG = preset("exion", rows=2, cols=2, lanes=2, bus_width=64)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("masters", [2, 3])
def test_axi_arbiter(sim, masters):
    run_bench(CFG, f"axi_arbiter{masters}", sim, "sim.tb_axi_arbiter",
              extra_env={"EXION_ARBITER_MASTERS": str(masters)})


def test_round_robin_golden():
    # All request every cycle: 0, 1, 2, 0, ...
    assert A.round_robin(3, [0b111] * 5) == [(0, 0), (1, 1), (2, 2), (3, 0), (4, 1)]
    # The pointer moves past the last grant; a lone requester is granted at once.
    assert A.round_robin(3, [0b100, 0b011, 0b011, 0, 0b101]) == \
        [(0, 2), (1, 0), (2, 1), (4, 2)]
    # No grant while the register cannot take an address.
    assert A.round_robin(2, [0b11] * 4, [True, False, False, True]) == [(0, 0), (3, 1)]
    assert A.accepts([1, 1, 0], [0, 1, 0]) == [False, True, True]
    assert A.round_robin(1, [1, 0, 1]) == [(0, 0), (2, 0)]
    assert A.max_wait(4) == 3


def test_round_robin_fairness_random():
    """Seeded random request patterns: a master that keeps requesting waits at most
    ``masters - 1`` grants of others."""
    import random
    rng = random.Random(7)
    for n in (1, 2, 5, 64):
        reqs = [rng.getrandbits(n) for _ in range(400)]
        grants = A.round_robin(n, reqs)
        for k in range(len(grants) - n):
            nxt = [m for _t, m in grants[k + 1:k + 1 + n]]
            t, m = grants[k]
            # A master holding valid through the next n grants appears among them.
            steady = [i for i in range(n)
                      if all(reqs[c] >> i & 1 for c in range(t + 1, grants[k + n][0] + 1))]
            assert all(i in nxt for i in steady), (n, k)


def test_golden_bad_input():
    with pytest.raises(ValueError, match=r"masters = 65 is out of range \[1, 64\]"):
        A.round_robin(65, [1])
    with pytest.raises(ValueError, match=r"requests\[0\] = 0x4 names no master of 2"):
        A.round_robin(2, [0b100])


@pytest.mark.parametrize("kw, msg", [
    (dict(masters=0, data_width=64), r"masters = 0 is out of range \[1, 64\]"),
    (dict(masters=65, data_width=64), r"masters = 65 is out of range \[1, 64\]"),
    (dict(masters=2, data_width=48), r"data_width = 48 must be a power of two in \[32, 1024\]"),
    (dict(masters=2, data_width=64, id_width=0), r"id_width = 0 is out of range \[1, 16\]"),
    (dict(masters=2, data_width=64, w_order_depth=0), r"w_order_depth = 0 is out of range"),
    (dict(masters=2, data_width=64, addr_width=12), r"addr_width = 12 is out of range"),
])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_arbiter_parameters(kw, msg):
    from hw.axi_arbiter import AxiArbiter
    with pytest.raises(ValueError, match=msg):
        AxiArbiter(**kw)
    gc.collect()


def test_arbiter_64_masters_elaborates():
    """The largest arbiter elaborates; its slave port carries 6 more ID bits."""
    from amaranth.back import rtlil
    from hw.axi_arbiter import AxiArbiter
    arb = AxiArbiter(masters=64, data_width=32)
    assert len(arb.m_axi_arid) == 7 and len(arb.s63_axi_arid) == 1
    assert rtlil.convert(arb, name="t")


def test_no_ready_to_valid_path():
    """AXI: no VALID may depend on a READY. With random inputs held, flipping every READY
    input (the slave's AR/AW/W ready, the masters' R/B ready) changes no VALID output of
    either side in the same cycle."""
    import random
    from amaranth.sim import Simulator
    from hw.axi_arbiter import AxiArbiter
    n = 3
    arb = AxiArbiter(masters=n, data_width=32)
    readys = ([arb.m_axi_arready, arb.m_axi_awready, arb.m_axi_wready]
              + [getattr(arb, f"s{i}_axi_{c}ready") for i in range(n) for c in ("r", "b")])
    valids = ([arb.m_axi_arvalid, arb.m_axi_awvalid, arb.m_axi_wvalid]
              + [getattr(arb, f"s{i}_axi_{c}valid") for i in range(n) for c in ("r", "b")])
    inputs = [v for _p, mem, v in arb.signature.flatten(arb) if mem.flow.name == "In"]
    rng = random.Random(3)

    async def bench(ctx):
        for _ in range(200):
            for s in inputs:
                ctx.set(s, rng.getrandbits(len(s)))
            before = [ctx.get(v) for v in valids]
            for r in readys:
                ctx.set(r, 1 - ctx.get(r))
            assert [ctx.get(v) for v in valids] == before
            await ctx.tick()

    sim = Simulator(arb)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
