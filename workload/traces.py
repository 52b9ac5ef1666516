"""Keep-mask traces of the trained DiT: a compact, documented, numpy-only format.

A trace directory holds two files:

``index.json``
    ``format`` (``"exion-workload-traces"``), ``version`` (1), ``packing`` (how the bits are
    stored), ``masks_file`` (``"masks.npz"``), ``info`` (free-form: the model, the run that
    produced the masks, the samples) and ``kinds``: per mask kind, its ``rows`` and ``cols``
    (the mask shape), ``count``, ``meta_columns`` (names of the integer columns that locate
    each mask), ``gemm`` (``M``, ``K``, ``N`` of the GEMM whose *output* the mask selects, and a
    description) and the SHA-256 of its packed bits.
``masks.npz``
    Per kind ``<kind>_bits``: ``uint8 (count, rows, ceil(cols / 8))``, each mask row packed
    with ``np.packbits(row, bitorder="little")`` (bit ``j % 8`` of byte ``j // 8`` is column
    ``j``; padding bits are 0); and ``<kind>_meta``: ``int32 (count, len(meta_columns))``.

The workload exports two kinds (see ``docs/workload.md``): ``ffn`` (FFN-Reuse keep-masks of the
FC1 output, tokens x d_ff, one per sample, block and dense iteration: the mask the following
sparse iterations compute) and ``eager`` (eager-prediction keep-masks of ``Q K^T``, queries x
keys, one per sample, iteration, block and head). Only numpy is needed to read or write them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["FORMAT", "VERSION", "pack_masks", "unpack_masks", "MaskKind", "TraceSet",
           "save_traces", "load_traces"]

FORMAT = "exion-workload-traces"
VERSION = 1
MASKS_FILE = "masks.npz"
INDEX_FILE = "index.json"


def pack_masks(masks) -> np.ndarray:
    """``(count, rows, cols)`` bool -> ``(count, rows, ceil(cols / 8))`` uint8, little bit order."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"masks must be (count, rows, cols), not shape {m.shape}")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("masks must be boolean (or hold only 0 and 1)")
        m = m.astype(bool)
    return np.packbits(m, axis=-1, bitorder="little")


def unpack_masks(bits, cols: int) -> np.ndarray:
    """Inverse of :func:`pack_masks`."""
    b = np.asarray(bits, dtype=np.uint8)
    if b.ndim != 3 or b.shape[-1] != -(-cols // 8):
        raise ValueError(f"bits of shape {b.shape} cannot hold {cols} columns per row")
    return np.unpackbits(b, axis=-1, count=cols, bitorder="little").astype(bool)


@dataclass
class MaskKind:
    """All masks of one kind: packed bits, integer metadata and their description."""

    name: str
    rows: int
    cols: int
    bits: np.ndarray                 # (count, rows, ceil(cols / 8)) uint8
    meta: np.ndarray                 # (count, len(meta_columns)) int32
    meta_columns: list[str]
    gemm: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.bits.shape[0])

    def masks(self) -> np.ndarray:
        """Every mask, ``(count, rows, cols)`` bool."""
        return unpack_masks(self.bits, self.cols)

    def mask(self, i: int) -> np.ndarray:
        return unpack_masks(self.bits[i:i + 1], self.cols)[0]

    def __iter__(self) -> Iterator[tuple[dict, np.ndarray]]:
        """``(meta as a dict, mask)`` pairs in stored order."""
        for i in range(self.count):
            yield dict(zip(self.meta_columns, self.meta[i].tolist())), self.mask(i)

    def select(self, **where) -> np.ndarray:
        """Indices of the masks whose metadata equal ``where`` (e.g. ``block=0``)."""
        ok = np.ones(self.count, dtype=bool)
        for k, v in where.items():
            ok &= self.meta[:, self.meta_columns.index(k)] == v
        return np.flatnonzero(ok)


@dataclass
class TraceSet:
    info: dict
    kinds: dict[str, MaskKind]

    def __getitem__(self, name: str) -> MaskKind:
        return self.kinds[name]


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save_traces(directory, kinds: dict, info: dict | None = None) -> Path:
    """Write a trace directory.

    ``kinds`` maps a kind name to a dict with ``masks`` (``(count, rows, cols)`` bool),
    ``meta`` (``(count, ncol)`` int), ``meta_columns`` (``ncol`` names) and optionally
    ``gemm`` (dict). Returns the path of ``index.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays, index_kinds = {}, {}
    for name, k in kinds.items():
        if not name.isidentifier():
            raise ValueError(f"kind name {name!r} must be an identifier")
        masks = np.asarray(k["masks"])
        meta = np.asarray(k["meta"], dtype=np.int64)
        cols = list(k["meta_columns"])
        if masks.ndim != 3:
            raise ValueError(f"{name}: masks must be (count, rows, cols), not {masks.shape}")
        if meta.shape != (masks.shape[0], len(cols)):
            raise ValueError(f"{name}: meta has shape {meta.shape}, expected "
                             f"({masks.shape[0]}, {len(cols)})")
        if meta.size and (meta.min() < np.iinfo(np.int32).min or meta.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{name}: meta values do not fit int32")
        bits = pack_masks(masks)
        arrays[f"{name}_bits"] = bits
        arrays[f"{name}_meta"] = meta.astype(np.int32)
        index_kinds[name] = {
            "rows": int(masks.shape[1]), "cols": int(masks.shape[2]),
            "count": int(masks.shape[0]), "meta_columns": cols,
            "gemm": dict(k.get("gemm", {})),
            "density": float(masks.mean()) if masks.size else 0.0,
            "sha256_bits": _sha(bits),
        }
    np.savez_compressed(directory / MASKS_FILE, **arrays)
    index = {
        "format": FORMAT, "version": VERSION, "masks_file": MASKS_FILE,
        "packing": "np.packbits(mask, axis=-1, bitorder='little'): <kind>_bits is uint8 "
                   "(count, rows, ceil(cols/8)); <kind>_meta is int32 (count, len(meta_columns))",
        "kinds": index_kinds, "info": info or {},
    }
    path = directory / INDEX_FILE
    path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path


def load_traces(directory, verify: bool = True) -> TraceSet:
    """Read a trace directory written by :func:`save_traces` (checks format, shapes, hashes)."""
    directory = Path(directory)
    index = json.loads((directory / INDEX_FILE).read_text())
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise ValueError(f"{directory}: not a {FORMAT} v{VERSION} trace "
                         f"(format {index.get('format')!r}, version {index.get('version')!r})")
    kinds = {}
    with np.load(directory / index["masks_file"]) as z:
        for name, k in index["kinds"].items():
            bits, meta = z[f"{name}_bits"], z[f"{name}_meta"]
            want = (k["count"], k["rows"], -(-k["cols"] // 8))
            if bits.shape != want or meta.shape != (k["count"], len(k["meta_columns"])):
                raise ValueError(f"{name}: stored shapes {bits.shape} / {meta.shape} do not "
                                 f"match the index {want}")
            if verify and _sha(bits) != k["sha256_bits"]:
                raise ValueError(f"{name}: SHA-256 of the bits does not match the index")
            kinds[name] = MaskKind(name, k["rows"], k["cols"], bits, meta,
                                   list(k["meta_columns"]), dict(k.get("gemm", {})))
    return TraceSet(index.get("info", {}), kinds)
