"""Shared pieces of the cocotb benches: configuration, clock and reset, lane packing, the
bench reports."""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from exion.config import ExionConfig

__all__ = ["config", "start", "pack", "unpack", "stream_words", "pauses", "write_report"]


def config() -> ExionConfig:
    """The configuration the runner built the design for."""
    return ExionConfig.from_json(os.environ["EXION_CONFIG"])


async def start(dut, cycles: int = 2):
    """Start the clock low, hold reset for ``cycles`` rising edges, release it."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def pack(values, width: int) -> int:
    """Pack integers (two's complement, element 0 at the LSB) into one unsigned integer."""
    word, mask = 0, (1 << width) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack(word: int, width: int, count: int, signed: bool = True) -> list[int]:
    """Inverse of :func:`pack`."""
    mask, out = (1 << width) - 1, []
    for i in range(count):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


async def stream_words(dut, words, n_out: int, rng, gap: float, stall: float, *, limit: int,
                       tail: int = 2, trace: dict | None = None) -> list[int]:
    """Drive payload ``words`` into a unit's ``i`` stream and take raw payloads from its ``o``
    stream, with random pauses on both: an idle input cycle with probability ``gap``,
    ``o.ready`` low with probability ``stall``. Runs until ``n_out`` outputs came and then
    ``tail`` more cycles with ``o.ready`` high (an extra output there is returned too, so the
    caller's count check sees it); fails after ``limit`` cycles. Starts and ends on a falling
    edge of ``clk``. ``trace``, if given, gets lists ``"in"`` and ``"out"``: the cycle of every
    input and output transfer (for cycle counts against ``golden.cycle_model``)."""
    got, i, cyc, extra = [], 0, 0, 0
    if trace is not None:
        trace["in"], trace["out"] = [], []
    while len(got) < n_out or extra < tail:
        assert cyc < limit, f"timeout: {len(got)} of {n_out} outputs after {cyc} cycles"
        present = i < len(words) and rng.random() >= gap
        if present:
            dut.i__payload.value = words[i]
        dut.i__valid.value = int(present)
        dut.o__ready.value = int(len(got) >= n_out or rng.random() >= stall)
        await Timer(1, unit="ns")
        if present and dut.i__ready.value:
            i += 1
            if trace is not None:
                trace["in"].append(cyc)
        if dut.o__valid.value and dut.o__ready.value:
            v = dut.o__payload.value
            assert v.is_resolvable, f"unresolved output {v}"
            got.append(v.to_unsigned())
            if trace is not None:
                trace["out"].append(cyc)
        if len(got) >= n_out:
            extra += 1
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        cyc += 1
    dut.i__valid.value = 0
    return got


def pauses(rng, p: float):
    """A cocotbext-axi pause generator: paused each cycle with probability ``p``."""
    while True:
        yield rng.random() < p


def write_report(env: str, report: dict, *, sort_keys: bool = True) -> None:
    """Write ``report`` as JSON to the file the environment variable ``env`` names (a bench
    script in bench/ sets it and reads the figures back); nothing when it is not set."""
    path = os.environ.get(env)
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=1, sort_keys=sort_keys)
