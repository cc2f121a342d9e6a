"""How alike two representations of the same examples are: linear CKA (Kornblith et al. 2019),
and a ridge-regularised affine map from one to the other with its R^2 on held-out rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

RIDGE = 1e-3  # ridge penalty, relative to the mean variance of the map's input


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA of two representations of the same rows ([n, d_x], [n, d_y]): 1 for copies
    that differ by a rotation, an isotropic scale or a shift; NaN when either is constant."""
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    norms = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(cross / norms) if float(norms) > 0 else float("nan")


def bootstrap_cka(x: Tensor, y: Tensor, rng: np.random.Generator, n: int) -> list[float]:
    """CKA of `n` resamples of the rows (the same rows for both)."""
    rows = len(x)
    return [linear_cka(x[i], y[i]) for i in map(torch.from_numpy, rng.integers(0, rows, (n, rows)))]


@dataclass
class AffineMap:
    """y ~ x @ weight + bias, fitted by ridge regression."""

    weight: Tensor  # [d_x, d_y]
    bias: Tensor  # [d_y]

    def __call__(self, x: Tensor) -> Tensor:
        return (x.double() @ self.weight + self.bias).float()

    @classmethod
    def fit(cls, x: Tensor, y: Tensor, ridge: float = RIDGE) -> AffineMap:
        """The ridge fit of `y` on `x` ([n, d_x] -> [n, d_y]); the penalty is `ridge` times
        the mean variance of `x`'s columns, so that it means the same at any scale."""
        x, y = x.double(), y.double()
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc, yc = x - x_mean, y - y_mean
        gram = xc.T @ xc
        penalty = ridge * float(torch.diagonal(gram).mean()) + 1e-12
        weight = torch.linalg.solve(
            gram + penalty * torch.eye(len(gram), dtype=gram.dtype), xc.T @ yc
        )
        return cls(weight, y_mean - x_mean @ weight)


def r_squared(predicted: Tensor, target: Tensor) -> float:
    """1 - residual / total sum of squares, over every column: 1 for a perfect map."""
    target = target.double()
    residual = ((predicted.double() - target) ** 2).sum()
    total = ((target - target.mean(0)) ** 2).sum()
    return float(1 - residual / total) if float(total) > 0 else float("nan")
