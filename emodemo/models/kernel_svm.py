"""An RBF-kernel support-vector machine as a PyTorch module, so that it saves as plain tensors.

Talk 003 classifies its hand-crafted audio features with an SVM. We fit it with scikit-learn (one
binary SVC per emotion, one-vs-rest; :func:`emodemo.recipes.handcrafted_ensemble.fit_svm`) and
copy what the fitted machines hold into this module's buffers. Its checkpoint is then safetensors +
JSON like every other model: loading runs no code from the file, unlike a pickled scikit-learn
estimator.

For input ``features [B, F]`` (one row per clip):

    z = (features - mean) / scale                                  standardisation, fitted on training data
    K[b, s] = exp(-gamma * ||z_b - sv_s||^2)                       RBF kernel against every support vector
    score[b, c] = sum over class c's support vectors of dual_s * K[b, s] + intercept_c

``dual_s`` is alpha_s * y_s of the binary machine "class c against the rest". The output
``[B, C]`` are decision values (signed margins), the logits of this model: the predicted class is
their arg-max; a softmax over them is a ranking, not a calibrated probability.
"""

from __future__ import annotations

import torch
from torch import nn


class RbfSvm(nn.Module):
    def __init__(self, n_features: int, n_support: list[int], gamma: float):
        super().__init__()
        self.gamma = float(gamma)
        total = int(sum(n_support))
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("support", torch.zeros(total, n_features, dtype=torch.float64))  # [S, F]
        self.register_buffer("dual", torch.zeros(total, dtype=torch.float64))  # [S]
        self.register_buffer("intercept", torch.zeros(len(n_support), dtype=torch.float64))  # [C]
        owner = torch.repeat_interleave(torch.arange(len(n_support)), torch.tensor(n_support, dtype=torch.long))
        self.register_buffer("owner", nn.functional.one_hot(owner, len(n_support)).double())  # [S, C]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features.to(self.mean.dtype) - self.mean) / self.scale  # [B, F], float64 as stored
        kernel = torch.exp(-self.gamma * torch.cdist(z, self.support).square())  # [B, S]
        return (kernel * self.dual) @ self.owner + self.intercept  # [B, C]
