"""Shared pieces of the cocotb benches: configuration, clock and reset, lane packing."""

from __future__ import annotations

import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from exion.config import ExionConfig

__all__ = ["config", "start", "pack", "unpack"]


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
