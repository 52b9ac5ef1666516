"""Cycles of the eager predictor's projection on chip (``PREDICT_PROJ``) against the host
computing Q' / K' and streaming them in (what the runtime does without the command).

Per attention head and row group of ``rows`` tokens (queries) and per key row group:

* on chip: ``PREDICT_PROJ`` of Q' (``predict_proj_cycles(dh, kc, lanes, rows, False)``) and
  of K' (``KEYS``), from ``golden.cycle_model`` (tests/test_core_predproj.py holds the RTL's
  ``CYCLES`` equal to it); ``X`` and ``Wq`` / ``Wk`` are already on chip (the exact QKV
  projection GEMMs read the same IMEM tokens and the same dense-layout WMEM weights);
* host: the stream beats that load the host's Q' (``rows * ceil(dh / lanes)`` IMEM beats)
  and K' (``cols * ceil(keys / cols) * ceil(dh / lanes)`` WMEM beats), at one beat per
  cycle (the streams' best), plus the host's own work, counted as shift-add lane operations
  (``tokens * dh * hidden`` per projection; not core cycles) and the round trip (X to the
  host, Q' / K' back);
* for scale: the exact projection GEMM of the same shape on the SDUE
  (``compute_cycles(ceil(dh / cols), hidden)``).

Shapes: the trained DiT of ``data/dit_digits.npz`` (hidden 128, 4 heads of 32, 64 tokens)
and DiT-XL/2 (hidden 1152, heads of 72, 256 tokens), on the ``exion`` preset (16 x 16, 16
lanes). Run: ``.venv/bin/python bench/bench_predproj.py``.
"""

from __future__ import annotations

from exion.config import preset
from golden import cycle_model
from workload.schedule import DiTConfig

_DIT = DiTConfig()      # the trained DiT's shape (data/dit_digits.npz)
SHAPES = {"trained DiT (data/dit_digits.npz)": (_DIT.hidden, _DIT.head_dim, _DIT.tokens),
          "DiT-XL/2 (256 tokens)": (1152, 72, 256)}


def head_figures(cfg, hidden: int, dh: int, tokens: int) -> dict:
    L, R, C = cfg.lanes, cfg.rows, cfg.cols
    kc, kcp = -(-hidden // L), -(-dh // L)
    groups = -(-tokens // R)
    ops = cfg.operand_stages
    q = cycle_model.predict_proj_cycles(dh, kc, L, R, False, operand_stages=ops) * groups
    k = cycle_model.predict_proj_cycles(dh, kc, L, R, True, operand_stages=ops) * groups
    keys = min(tokens, 64)          # one PREDICT's keys (MAX_KEYS)
    q_beats = R * kcp * groups
    k_beats = C * -(-keys // C) * kcp * -(-tokens // keys)
    gemm = cycle_model.compute_cycles(-(-dh // C), hidden, cfg) * groups * 2
    return dict(chip=q + k, chip_q=q, chip_k=k, host_beats=q_beats + k_beats,
                host_lane_ops=2 * tokens * dh * hidden, gemm=gemm)


def main() -> None:
    cfg = preset("exion")
    print(f"configuration: {cfg.rows}x{cfg.cols}, {cfg.lanes} lanes, {cfg.data_width} bit")
    for name, (hidden, dh, tokens) in SHAPES.items():
        f = head_figures(cfg, hidden, dh, tokens)
        print(f"\n{name}: hidden {hidden}, head dim {dh}, {tokens} tokens, per head")
        print(f"  on chip  PREDICT_PROJ Q' + K'      {f['chip']:>7} cycles "
              f"(Q' {f['chip_q']}, K' {f['chip_k']})")
        print(f"  host     Q' / K' stream loads      {f['host_beats']:>7} cycles "
              f"(+ {f['host_lane_ops']} shift-add lane ops on the host, + X out / back)")
        print(f"  ratio    on chip / host loads      {f['chip'] / f['host_beats']:>7.2f}")
        print(f"  scale    exact Q, K GEMMs (SDUE)   {f['gemm']:>7} cycles "
              f"(on chip / exact {f['chip'] / f['gemm']:.1f})")


if __name__ == "__main__":
    main()
