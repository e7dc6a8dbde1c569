"""One small optimiser for latent curves: Adam on a single tensor with a cosine-decayed step size.

Written out rather than ``torch.optim.Adam`` because the first step of a ``torch.optim`` optimiser in a fresh
process spends about 2 s importing modules it loads on first use (longer than a whole geodesic), and because the
callers want the decoder's own ``.grad`` left alone (gradients are taken with ``torch.autograd.grad``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class CosineAdam:
    """Adam (Kingma & Ba 2015, bias-corrected) updating ``param`` in place; the step size decays from ``lr`` to
    0 over ``steps`` steps on a half cosine. ``step(grad, it)`` applies update ``it`` (0-based)."""

    def __init__(self, param: Tensor, lr: float, steps: int, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.param, self.lr, self.steps, (self.b1, self.b2), self.eps = param, lr, max(steps, 1), betas, eps
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)

    def step(self, grad: Tensor, it: int) -> None:
        with torch.no_grad():
            self.m.mul_(self.b1).add_(grad, alpha=1 - self.b1)
            self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
            size = self.lr * 0.5 * (1 + math.cos(math.pi * it / self.steps))
            m_hat, v_hat = self.m / (1 - self.b1 ** (it + 1)), self.v / (1 - self.b2 ** (it + 1))
            self.param.sub_(size * m_hat / (v_hat.sqrt() + self.eps))
