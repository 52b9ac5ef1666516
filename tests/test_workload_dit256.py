"""The 256-token DiT of the workload (``data/dit256_digits.npz``, docs/workload.md): its
committed weights load, sample and score, and the golden rules hold at 256 tokens.

Needs torch (workload venv, ``make workload-test``); skipped with a reason without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the workload tests need torch: run them in the workload venv "
                    "(.venv-workload, see docs/workload.md)")

try:
    import workload  # noqa: F401
except ImportError:  # pytest run without the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch.nn.functional as F  # noqa: E402

from workload import diffusion, paths  # noqa: E402
from workload.golden_ops import FastOps, GoldenOps, RunSpec  # noqa: E402
from workload.model import load_weights, modulate  # noqa: E402
from workload.sample import Scorer, labels_for, run  # noqa: E402

WEIGHTS = paths.weights_for("dit256")
pytestmark = pytest.mark.skipif(
    not WEIGHTS.exists(), reason="data/dit256_digits.npz missing: "
                                 "python -m workload train --model dit256")

#: Quick sampling check: ten samples (one per class), DDIM with few iterations, guided.
QUICK_ITERATIONS = 10
QUICK_GUIDANCE = 3.0
#: The committed weights score 1.0 with these settings (10 / 10); a broken model scores ~0.1.
QUICK_MIN_ACC = 0.8


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    m, _ = load_weights(WEIGHTS)
    return m


def test_committed_weights(model):
    cfg = model.cfg
    assert (cfg.tokens, cfg.patch, cfg.hidden, cfg.heads, cfg.head_dim, cfg.ffn_hidden) == \
        (256, 1, 144, 2, 72, 576)   # DiT-XL/2's head dimension and FFN ratio
    assert WEIGHTS.stat().st_size < 4e6
    with np.load(WEIGHTS) as z:
        assert all(z[k].dtype == np.float16 for k in z.files if k != "__info__")
    out = model(torch.zeros(2, 1, 16, 16), torch.tensor([10, 900]), torch.tensor([3, 10]))
    assert out.shape == (2, 1, 16, 16) and torch.isfinite(out).all()


def test_sample_and_score(model):
    imgs, _, _ = run(model, RunSpec("v", QUICK_ITERATIONS), n=10, guidance=QUICK_GUIDANCE,
                     threads=2)
    assert imgs.shape == (10, 1, 16, 16) and float(imgs.abs().max()) <= 1.0
    sc = Scorer().score(imgs.numpy(), labels_for(10).numpy())
    assert sc["class_acc"] >= QUICK_MIN_ACC, sc
    assert np.isfinite(sc["fcd"]) and sc["fcd"] > 0


def test_reuse_and_eager_masks_at_256_tokens(model):
    spec = RunSpec("r", 3, ffn_n=2, target_sparsity=0.8, ep=True, q_th=0.15, k=0.05)
    _, ops, _ = run(model, spec, n=1, seed=0, record_masks=True, threads=2)
    st = ops.stats
    assert st.ffn_dense_calls == model.cfg.depth and st.ffn_sparse_calls == 2 * model.cfg.depth
    assert abs(st.inter_sparsity - 0.8) < 1e-3
    # k = 0.05 of 256 keys keeps 13 keys (or 1 for a dominant query)
    assert 1 - 13 / 256 - 1e-9 <= st.intra_sparsity <= 1 - 1 / 256 + 1e-9
    assert ops.ffn_masks[0][1].shape == (1, 256, 576)
    assert ops.eager_masks[0][1].shape == (1, 2, 256, 256)


def _block_input(model, block: int = 1, t: int = 500):
    """The modulated attention input ``h`` (1, 256, 144) of ``block`` on a noisy digit."""
    x = diffusion.initial_noise(1, 7)
    tt, y = torch.tensor([t]), torch.tensor([4])
    with torch.no_grad():
        c = model.condition(tt, y)
        h = model.patch_embed(model.patchify(x)) + model.pos
        for blk in model.blocks[:block]:
            h = blk(h, c)
        blk = model.blocks[block]
        b1, s1, *_ = blk.ada(F.silu(c)).chunk(6, dim=-1)
        return modulate(blk.norm1(h), b1, s1)


@pytest.mark.parametrize("lod_steps", [1, 2])
def test_fast_backend_equals_golden_model_at_256_tokens(model, lod_steps):
    """One block's eager prediction and FFN-Reuse calls, torch backend against the golden model
    (the whole-run comparison is ``python -m workload check --model dit256``)."""
    h = _block_input(model)
    blk = model.blocks[1]
    spec = RunSpec("c", 3, ffn_n=1, target_sparsity=0.8, ep=True, q_th=0.15, k=0.05,
                   lod_steps=lod_steps, quant=True)
    fast, gold = FastOps(spec, record_masks=True), GoldenOps(spec, record_masks=True)
    with torch.no_grad():
        for ops in (fast, gold):
            ops.begin_step(0, 500)
        assert torch.equal(fast.predict(1, blk, h), gold.predict(1, blk, h))
        assert fast.stats.as_dict() == pytest.approx(gold.stats.as_dict())
        h2 = h + 0.01 * torch.randn(h.shape, generator=torch.Generator().manual_seed(1))
        for i, x in enumerate((h, h2)):
            for ops in (fast, gold):
                ops.begin_step(i, 500 - i)
            yf, yg = fast.ffn(1, blk, x), gold.ffn(1, blk, x)
            assert float((yf - yg).abs().max()) < 1e-5
    assert np.array_equal(fast.eager_masks[0][1], gold.eager_masks[0][1])
    assert len(fast.ffn_masks) == len(gold.ffn_masks) == 1          # the dense call's mask
    assert np.array_equal(fast.ffn_masks[0][1], gold.ffn_masks[0][1])
    assert fast.stats.inter_sparsity == pytest.approx(gold.stats.inter_sparsity)
