"""A random forest as a PyTorch module: scikit-learn's fitted trees stored as tensors.

Talk 003 fuses its audio and face models' outputs with a random forest. We fit it with
scikit-learn and copy every tree into this module's buffers (node arrays padded to the largest
tree), so its checkpoint is safetensors + JSON and loads without executing code from the file.

Each tree is four arrays over its nodes: ``left``/``right`` child (-1 at a leaf), the ``feature``
tested and its ``threshold`` (go left when ``x[feature] <= threshold``), and ``value``, the class
shares of the training samples that reached a leaf. For input ``x [B, F]`` every sample walks every
tree at once, one level per step, ``depth`` steps; the answer is the mean of the leaves' class
shares over trees, exactly scikit-learn's ``predict_proba`` (it also compares float32 features
with float64 thresholds). The module returns ``log`` of those probabilities as its logits, so that
a softmax gives them back.
"""

from __future__ import annotations

import torch
from torch import nn

LOG_FLOOR = 1e-9  # probability floor before the log (a class no leaf votes for)


class Forest(nn.Module):
    def __init__(self, n_trees: int, n_nodes: int, n_classes: int, depth: int):
        super().__init__()
        self.depth = int(depth)
        shape = (n_trees, n_nodes)
        self.register_buffer("left", torch.full(shape, -1, dtype=torch.long))
        self.register_buffer("right", torch.full(shape, -1, dtype=torch.long))
        self.register_buffer("feature", torch.zeros(shape, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("value", torch.zeros(*shape, n_classes, dtype=torch.float64))  # [T, N, C], rows sum to 1

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, F] -> class probabilities [B, C]."""
        x = x.float().to(self.threshold.dtype)  # scikit-learn's float32 view of x
        n_trees = self.left.shape[0]
        trees = torch.arange(n_trees, device=x.device)[None, :]  # [1, T]
        node = torch.zeros(x.shape[0], n_trees, dtype=torch.long, device=x.device)  # [B, T], all at the root
        for _ in range(self.depth):
            left, right = self.left[trees, node], self.right[trees, node]  # [B, T]
            tested = torch.gather(x, 1, self.feature[trees, node])  # [B, T]
            step = torch.where(tested <= self.threshold[trees, node], left, right)
            node = torch.where(left < 0, node, step)  # leaves stay put
        return self.value[trees, node].mean(dim=1)  # [B, T, C] -> [B, C]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probabilities(x).clamp_min(LOG_FLOOR).log()  # [B, C]
