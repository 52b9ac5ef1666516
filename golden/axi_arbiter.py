"""Golden model of the AXI4 arbiter (hw/axi_arbiter.py): the order of its grants.

The arbiter grants AR and AW separately, each round robin (docs/axi-arbiter.md). In a cycle
where the channel's output register can take an address (``accept``: it is empty, or the slave
takes the address it holds), the requesting master first at or after the pointer is granted;
the pointer then moves to the master after it. At reset the pointer is at master 0. A granted
address is valid on the slave port :data:`ISSUE_LATENCY` cycle later and held there until
the slave takes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from exion.limits import ARBITER_MAX_MASTERS
from exion.util import check_int

__all__ = ["ISSUE_LATENCY", "round_robin", "max_wait", "accepts"]

#: Cycles from a master-side AR / AW handshake to the address being valid on the slave port
#: (the output register).
ISSUE_LATENCY = 1


def round_robin(masters: int, requests: Sequence[int],
                accept: Sequence[bool] | None = None) -> list[tuple[int, int]]:
    """Grants as ``(cycle, master)`` for ``requests[t]``, the bit mask of the masters holding
    ``valid`` in cycle ``t``, and ``accept[t]`` (default: always), whether the output register
    can take an address in cycle ``t``. The pointer starts at master 0."""
    check_int("masters", masters, 1, ARBITER_MAX_MASTERS)
    ptr, out = 0, []
    for t, req in enumerate(requests):
        if not req or (accept is not None and not accept[t]):
            continue
        for k in range(masters):
            i = (ptr + k) % masters
            if req >> i & 1:
                out.append((t, i))
                ptr = (i + 1) % masters
                break
        else:
            raise ValueError(f"requests[{t}] = {req:#x} names no master of {masters}")
    return out


def accepts(slave_valid: Sequence[bool], slave_ready: Sequence[bool]) -> list[bool]:
    """``accept`` of :func:`round_robin` from the slave side of the channel: the register
    can take an address unless it holds one the slave does not take in that cycle."""
    return [not (v and not r) for v, r in zip(slave_valid, slave_ready)]


def max_wait(masters: int) -> int:
    """Grants to other masters, at most, between a master raising ``valid`` and its grant."""
    check_int("masters", masters, 1, ARBITER_MAX_MASTERS)
    return masters - 1
