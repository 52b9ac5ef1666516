"""Helpers every layer uses: the range check and the atomic file write.

Part of the spec layer: imports nothing of the project. Each is written once here so that the
error text of a bad value and the way an output file appears are the same everywhere.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path

__all__ = ["check_range", "check_int", "check_fraction", "atomic_write"]


def _show(value) -> str:
    # Numbers as written (numpy's repr would add its type); anything else quoted.
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    return repr(value)


def check_range(name: str, value, lo, hi, *, error: type[Exception] = ValueError):
    """Return ``value`` if ``lo <= value <= hi``, else raise ``error`` with the one-line message
    ``"<name> = <value> is out of range [lo, hi]"`` (the text every bad input produces)."""
    if not lo <= value <= hi:
        raise error(f"{name} = {_show(value)} is out of range [{lo}, {hi}]")
    return value


def check_int(name: str, value, lo, hi, *, error: type[Exception] = ValueError) -> int:
    """:func:`check_range` for integers (numpy's too); returns a Python ``int``. A ``bool`` or
    a non-integer is out of range as well: a ``True`` that slipped in for 1 is a bug."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} = {_show(value)} is out of range [{lo}, {hi}] (not an integer)")
    return int(check_range(name, value, lo, hi, error=error))


def check_fraction(name: str, value, *, error: type[Exception] = ValueError) -> float:
    """``value`` as a float in [0, 1]; anything else raises ``error`` naming ``name``."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise error(f"{name} must be a number in [0, 1], not {value!r}") from None
    if not 0 <= f <= 1:  # NaN fails too; the message shows the value as given
        raise error(f"{name} = {_show(value)} is out of range [0, 1]")
    return f


def atomic_write(path, text: str | bytes) -> None:
    """Write ``text`` (str or bytes) to ``path``: readers see the old file or the whole new one.

    The text goes to a temporary file in the same directory, which then replaces ``path``;
    a failure (or an interrupt) leaves no partial file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide the output from other users
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
