"""The trained-DiT workload of the EXION re-creation (docs/workload.md).

A small class-conditional DiT (adaLN-zero blocks, multi-head attention, GELU FFN) trained as a
denoising diffusion model on scikit-learn's digits, sampled with DDIM, with the FFN and the
attention of every block swappable for the golden model's FFN-Reuse and eager prediction.

Layout (see ``docs/workload.md``):

``data``        digits loading and scaling (numpy + scikit-learn)
``model``       the DiT (torch), weight save/load as ``.npz``
``diffusion``   noise schedule and the DDIM sampler with pluggable FFN / attention
``golden_ops``  adapters from the sampler to ``golden/ffn_reuse.py`` and ``golden/eager.py``
``int_ops``     the all-integer path: the host runtime's forward pass on golden operations
``runtime_ref`` the runtime's reference tensors recorded from the all-integer path
``classifier``  the small digit classifier used for the sample-quality scores
``train``       training of both networks (deterministic)
``accuracy``    the accuracy table, sample grids and plots
``traces``      numpy-only keep-mask trace format (no torch needed)
``schedule``    the DiT's shape, cosine schedule, DDIM timesteps, position embedding (numpy)

Only ``traces``, ``paths`` and ``schedule`` are importable without torch; the generator does
not import this package; the tools do (``exion sweep`` the traces, ``exion run`` the schedule).
"""

import os

# OpenMP threads that spin while waiting for each other burn the CPU time of a shared machine:
# measured on two busy cores, a two-thread training step of the 256-token DiT took 8.8 s (2.3
# CPU-s) with the default policy and 0.6 s (0.4 CPU-s) with passive waiting. libgomp reads this
# when torch is first imported, so it only helps when ``workload`` is imported before torch
# (``python -m workload``). The results do not depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["paths", "traces"]
