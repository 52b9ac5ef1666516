"""One validation layer for what the tools read and write: input files and output paths.

Every check raises :class:`InputError` (a :class:`~exion.config.ConfigError`) whose message
names the option, the path and what is wrong, so the command line turns it into one line and
exit status 2 before any work starts and before anything is written.

    load_mask(option, path, cfg)      a 0/1 keep-mask, tokens x channels (docs/limits.md)
    load_trace_mask(option, spec, cfg) one mask of a keep-mask trace folder, DIR:KIND:INDEX
    load_array(option, path, ...)     a finite numeric array (traces, weights)
    check_out_dir(option, path)       an output folder: not empty, not a file
    check_out_file(option, path)      an output file: not empty, not a folder
    require_nonempty(option, text)    an option given as the empty string

Limits come from the spec layer (``exion/limits.py``, ``exion/config.py``); docs/limits.md
lists them.
"""

from __future__ import annotations

import os
from pathlib import Path

from exion.config import ConfigError, ExionConfig
from exion.limits import CHANNEL_BITS, GROUP_BITS

__all__ = ["InputError", "load_mask", "load_array", "check_mask", "check_out_dir",
           "check_out_file", "check_in_file", "load_trace_mask", "require_nonempty", "mask_limits",
           "MAX_ELEMENTS"]

#: Largest array (elements) a tool reads: 2**28 booleans is 256 MB in memory.
MAX_ELEMENTS = 1 << 28


class InputError(ConfigError):
    """A file or path given on the command line is unusable."""


def require_nonempty(option: str, text) -> None:
    """Refuse ``--option ''`` (an empty string is not 'not given')."""
    if text is not None and not str(text).strip():
        raise InputError(f"{option}: empty value (leave the option out to use its default)")


def check_in_file(option: str, path) -> Path:
    """An existing regular file."""
    require_nonempty(option, path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{option} {str(path)!r}: no such file")
    if p.is_dir():
        raise InputError(f"{option} {str(path)!r}: is a folder, not a file")
    if not p.is_file():
        raise InputError(f"{option} {str(path)!r}: not a regular file")
    return p


def check_out_dir(option: str, path) -> Path:
    """An output folder: not empty, and not an existing file (it is created later, on write)."""
    require_nonempty(option, path)
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{option} {str(path)!r}: is a file, not a folder")
    for parent in (p, *p.parents):  # the nearest folder that exists must take new files
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{option} {str(path)!r}: {str(parent)!r} is a file, "
                                 f"not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"{option} {str(path)!r}: {str(parent)!r} is not writable")
            break
    return p


def check_out_file(option: str, path) -> Path:
    """An output file: not empty, not an existing folder, its folder not a file."""
    require_nonempty(option, path)
    p = Path(path)
    if str(path).endswith(("/", "\\")) or p.is_dir():
        raise InputError(f"{option} {str(path)!r}: is a folder, not a file")
    if p.exists() and not p.is_file():
        raise InputError(f"{option} {str(path)!r}: not a regular file")
    check_out_dir(option, p.parent) if str(p.parent) not in ("", ".") else None
    return p


def _read(option: str, path):
    import numpy as np
    p = check_in_file(option, path)
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if not z.files:
                    raise InputError(f"{option} {str(path)!r}: the .npz archive holds no array")
                name = "mask" if "mask" in z.files else z.files[0]
                return z[name]
        a = np.load(p, allow_pickle=False)
    except InputError:
        raise
    except Exception as e:  # not numpy data, pickled objects, truncated file
        raise InputError(f"{option} {str(path)!r}: not a .npy/.npz array "
                         f"({e.__class__.__name__})") from None
    if not isinstance(a, np.ndarray):
        raise InputError(f"{option} {str(path)!r}: not a .npy/.npz array")
    return a


def load_array(option: str, path, *, ndim: int | None = None, max_shape=None) -> "np.ndarray":
    """A finite, non-empty numeric (bool, integer or real) array of rank ``ndim``."""
    import numpy as np
    a = _read(option, path)
    where = f"{option} {str(path)!r}"
    if a.dtype.kind not in "biuf":
        raise InputError(f"{where}: dtype {a.dtype} is not boolean, integer or real")
    if ndim is not None and a.ndim != ndim:
        raise InputError(f"{where}: shape {a.shape} is not {ndim}-D")
    if a.size == 0:
        raise InputError(f"{where}: shape {a.shape} is empty")
    if a.size > MAX_ELEMENTS:
        raise InputError(f"{where}: {a.size} elements, more than the {MAX_ELEMENTS} allowed")
    if max_shape is not None:
        for axis, (n, hi) in enumerate(zip(a.shape, max_shape)):
            if hi is not None and n > hi:
                raise InputError(f"{where}: shape {a.shape}: axis {axis} has {n} entries, "
                                 f"more than {hi}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"{where}: holds NaN or infinite values")
    return a


def mask_limits(cfg: ExionConfig | None = None) -> tuple[int, int]:
    """(max tokens, max channels) a keep-mask may have: the schedule format addresses
    ``2**GROUP_BITS`` row groups of ``cfg.rows`` tokens and ``2**CHANNEL_BITS`` channels."""
    rows = (cfg or ExionConfig()).rows
    return (1 << GROUP_BITS) * rows, 1 << CHANNEL_BITS


def check_mask(option: str, path, a, cfg: ExionConfig | None = None):
    """Validate array ``a`` as a keep-mask; return it as ``bool``."""
    import numpy as np
    where = f"{option} {str(path)!r}"
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        dt = getattr(a, "dtype", type(a).__name__)
        raise InputError(f"{where}: dtype {dt} is not a 0/1 mask (bool, integer or real)")
    if a.ndim != 2:
        raise InputError(f"{where}: shape {a.shape} is not 2-D (tokens x channels)")
    if 0 in a.shape:
        raise InputError(f"{where}: shape {a.shape} is empty (needs at least 1 x 1)")
    max_t, max_c = mask_limits(cfg)
    if a.shape[0] > max_t or a.shape[1] > max_c:
        raise InputError(f"{where}: shape {a.shape} exceeds the schedule format's limit of "
                         f"{max_t} tokens x {max_c} channels (docs/limits.md)")
    if a.dtype.kind != "b":
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InputError(f"{where}: holds NaN or infinite values, not only 0 and 1")
        bad = (a != 0) & (a != 1)
        if bad.any():
            i = tuple(int(x) for x in np.argwhere(bad)[0])
            raise InputError(f"{where}: holds {a[i].item()!r} at {i}; a mask holds only 0 and 1")
    return a.astype(bool)


def load_mask(option: str, path, cfg: ExionConfig | None = None):
    """Read a keep-mask file (``.npy`` or ``.npz``; ``mask`` or the first array) and validate
    it with :func:`check_mask`."""
    return check_mask(option, path, _read(option, path), cfg)


def load_trace_mask(option: str, spec: str, cfg: ExionConfig | None = None):
    """One keep-mask of a trace folder (``workload/traces.py``, ``docs/workload.md``), given as
    ``DIR:KIND:INDEX`` (``KIND`` defaults to the first kind, ``INDEX`` to 0); checked as the
    trace format requires (format, version, shapes, hashes) and then as any mask."""
    require_nonempty(option, spec)
    parts = str(spec).rsplit(":", 2)
    folder, kind, index = parts[0], None, "0"
    if len(parts) == 3:
        kind, index = parts[1], parts[2]
    elif len(parts) == 2:
        kind = parts[1]
    where = f"{option} {str(spec)!r}"
    require_nonempty(option, folder)
    p = Path(folder)
    if not p.is_dir():
        raise InputError(f"{where}: {folder!r} is not a trace folder (DIR:KIND:INDEX)")
    from workload.traces import INDEX_FILE, load_traces
    if not (p / INDEX_FILE).is_file():
        raise InputError(f"{where}: {folder!r} holds no {INDEX_FILE} (not a trace folder)")
    try:
        ts = load_traces(p)
    except InputError:
        raise
    except Exception as e:  # bad JSON, missing arrays, wrong shapes or hashes
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise InputError(f"{where}: not a valid trace folder ({msg})") from None
    if not ts.kinds:
        raise InputError(f"{where}: the trace holds no mask kind")
    kind = kind if kind else next(iter(ts.kinds))
    if kind not in ts.kinds:
        raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(ts.kinds)}")
    k = ts[kind]
    try:
        i = int(index, 10)
    except ValueError:
        raise InputError(f"{where}: index {index!r} is not an integer") from None
    if not 0 <= i < k.count:
        raise InputError(f"{where}: index {i} is out of range [0, {k.count - 1}]")
    return check_mask(option, spec, k.mask(i), cfg)
