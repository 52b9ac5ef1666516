"""A queued command of the EXION core as its engines see it, and the stream that carries it.

A command is what the host wrote: the command word (opcode, flags) and ``ARG0..ARG5``
(:mod:`exion.regmap`, :mod:`exion.fields`). The host interface queues it, the dispatcher hands
it to one engine over a :func:`command_stream`; the engines slice the fields they need with
:func:`command_fields`.
"""

from __future__ import annotations

from amaranth.hdl import Value
from amaranth.lib import data, stream

from exion.fields import ARG_FIELDS, ARG_REGISTERS
from exion.regmap import FLAGS

__all__ = ["COMMAND", "command_stream", "command_fields", "command_flag"]

#: One queued command: opcode, flags and the six argument registers.
COMMAND = data.StructLayout({"op": 8, "flags": 8,
                             **{f"a{i}": 32 for i in range(ARG_REGISTERS)}})


def command_stream() -> stream.Signature:
    """The stream of commands from the dispatcher to an engine (payload :data:`COMMAND`)."""
    return stream.Signature(COMMAND)


def command_fields(cmd) -> dict[str, Value]:
    """The argument fields of ``cmd`` (a :data:`COMMAND` view) by name, sliced as
    :data:`exion.fields.ARG_FIELDS` says (``th_hi`` / ``th_lo`` and ``q_th_*`` are whole
    registers)."""
    regs = [cmd[f"a{i}"] for i in range(ARG_REGISTERS)]
    return {f.name: regs[f.reg][f.lo:f.lo + f.width] for f in ARG_FIELDS}


def command_flag(cmd, name: str) -> Value:
    """Flag ``name`` (:data:`exion.regmap.FLAGS`) of ``cmd``."""
    return (cmd.flags & (FLAGS[name] >> 8)) != 0
