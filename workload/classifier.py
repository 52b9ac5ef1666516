"""A small CNN digit classifier, trained on the same digits, that scores samples.

* accuracy on samples: the fraction of class-conditional samples classified as the class they
  were asked for;
* **Frechet classifier distance** (FCD): the Frechet distance between Gaussians fitted to the
  classifier's 64-wide penultimate features of the samples and of all 1,797 real digits. It is
  FID's formula in a feature space of our own, not FID (no Inception network, 16 x 16 digits):
  compare values only with each other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DigitClassifier", "frechet_distance", "save_classifier", "load_classifier"]


class DigitClassifier(nn.Module):
    FEATURES = 64

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, self.FEATURES)
        self.head = nn.Linear(self.FEATURES, 10)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x):
        return self.head(self.features(x))


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` of two feature sets (rows)."""
    f1 = np.asarray(f1, np.float64)
    f2 = np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)

    def psd_sqrt(m):
        w, v = np.linalg.eigh((m + m.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    r1 = psd_sqrt(s1)
    cross = psd_sqrt(r1 @ s2 @ r1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


def save_classifier(model: DigitClassifier, path, meta: dict | None = None) -> None:
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    arrays["__info__"] = np.frombuffer(json.dumps({"meta": meta or {}}).encode(), np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_classifier(path) -> tuple[DigitClassifier, dict]:
    with np.load(path) as z:
        info = json.loads(bytes(z["__info__"]).decode())
        state = {k: torch.from_numpy(z[k]) for k in z.files if k != "__info__"}
    m = DigitClassifier()
    m.load_state_dict(state)
    m.eval()
    return m, info["meta"]
