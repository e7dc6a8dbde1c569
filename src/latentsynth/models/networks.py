"""Encoder and decoder networks for data of shape ``[C, H, W]`` (images), ``[C, L]`` (spectrogram frames:
C = frames in a window, L = frequency bins; 1-D convolutions along frequency) or any shape (MLP).

Conv networks follow the WAE paper / pythae benchmark: 4x4 stride-2 convolutions with BatchNorm and ReLU,
widths configurable (the paper's 128-256-512-1024 is ``channels=[128,256,512,1024]``; the presets use a
narrower stack that trains on 2 CPU cores).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import NetworkConfig


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def _join(h: Tensor, e: Tensor | None) -> Tensor:
    """Append the conditioning vector ``e [B, E]`` (if any) to features ``h [B, H]``."""
    return h if e is None else torch.cat([h, e], dim=1)


class MLPEncoder(nn.Module):
    """``[B, *shape]`` (+ conditioning ``[B, E]``) -> ``[B, out_dim]``."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int], out_dim: int, cond_dim: int = 0):
        super().__init__()
        self.net = _mlp([math.prod(shape) + cond_dim, *hidden, out_dim])

    def forward(self, x: Tensor, e: Tensor | None = None) -> Tensor:
        return self.net(_join(x.flatten(1), e))


class MLPDecoder(nn.Module):
    """``[B, latent]`` (+ conditioning ``[B, E]``) -> ``[B, *shape]`` (raw outputs: logits or means before the
    likelihood's link)."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int], latent: int, cond_dim: int = 0):
        super().__init__()
        self.shape = tuple(shape)
        self.net = _mlp([latent + cond_dim, *reversed(hidden), math.prod(shape)])

    def forward(self, z: Tensor, e: Tensor | None = None) -> Tensor:
        return self.net(_join(z, e)).unflatten(1, self.shape)  # batch size from the graph: exportable


def _layers(ndim: int):
    """(Conv, ConvTranspose, BatchNorm) classes for 1-D ([C, L]) or 2-D ([C, H, W]) inputs."""
    if ndim == 2:
        return nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d
    if ndim == 3:
        return nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d
    raise ValueError(f"model.network.kind: conv needs [C, L] or [C, H, W] inputs, got {ndim} dimensions; "
                     "use mlp")


class ConvEncoder(nn.Module):
    """``[B, C, H, W]`` (or ``[B, C, L]``) -> ``[B, out_dim]``: Conv(k4, s2, p1) + BN + ReLU per width, then Linear
    (which also takes the conditioning ``[B, E]``, if any)."""

    def __init__(self, shape: tuple[int, ...], channels: list[int], out_dim: int, batchnorm: bool = True,
                 cond_dim: int = 0):
        super().__init__()
        conv, _, norm = _layers(len(shape))
        layers: list[nn.Module] = []
        c_in = shape[0]
        for c in channels:
            layers += [conv(c_in, c, 4, 2, 1), norm(c) if batchnorm else nn.Identity(), nn.ReLU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            self.conv.eval()  # BatchNorm cannot take a batch of one in training mode
            flat = self.conv(torch.zeros(1, *shape)).numel()
            self.conv.train()
        self.head = nn.Linear(flat + cond_dim, out_dim)

    def forward(self, x: Tensor, e: Tensor | None = None) -> Tensor:
        return self.head(_join(self.conv(x).flatten(1), e))


class ConvDecoder(nn.Module):
    """``[B, latent]`` -> ``[B, C, H, W]`` (or ``[B, C, L]``): Linear to a map of size ceil(H/2^n) (per spatial
    axis), then n transposed convolutions (k4, s2, p1) doubling the size, centre-cropped to the data size."""

    def __init__(self, shape: tuple[int, ...], channels: list[int], latent: int, batchnorm: bool = True,
                 cond_dim: int = 0):
        super().__init__()
        _, deconv, norm = _layers(len(shape))
        c_out, *self.size = shape
        n = len(channels)
        self.size0 = [math.ceil(s / 2**n) for s in self.size]
        rev = list(reversed(channels))
        self.c0 = rev[0]
        self.head = nn.Sequential(nn.Linear(latent + cond_dim, self.c0 * math.prod(self.size0)), nn.ReLU())
        layers: list[nn.Module] = []
        for a, b in zip(rev[:-1], rev[1:], strict=True):
            layers += [deconv(a, b, 4, 2, 1), norm(b) if batchnorm else nn.Identity(), nn.ReLU()]
        layers.append(deconv(rev[-1], c_out, 4, 2, 1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor, e: Tensor | None = None) -> Tensor:
        y = self.deconv(self.head(_join(z, e)).unflatten(1, (self.c0, *self.size0)))
        for axis, s in enumerate(self.size, start=2):
            start = (int(y.shape[axis]) - s) // 2
            y = y.narrow(axis, start, s)
        return y


def build_encoder(cfg: NetworkConfig, shape: tuple[int, ...], out_dim: int, cond_dim: int = 0) -> nn.Module:
    """The encoder of ``cfg.kind`` (the harmonic kind encodes with an MLP)."""
    if cfg.kind in ("mlp", "harmonic"):
        return MLPEncoder(shape, cfg.hidden, out_dim, cond_dim)
    return ConvEncoder(shape, cfg.channels, out_dim, cfg.batchnorm, cond_dim)


def build_decoder(cfg: NetworkConfig, shape: tuple[int, ...], latent: int, cond_dim: int = 0) -> nn.Module:
    """MLP or conv decoder (the harmonic decoder is built by :mod:`.harmonic`: it needs the audio settings)."""
    if cfg.kind == "mlp":
        return MLPDecoder(shape, cfg.hidden, latent, cond_dim)
    if cfg.kind == "conv":
        return ConvDecoder(shape, cfg.channels, latent, cfg.batchnorm, cond_dim)
    raise ValueError(f"model.network.kind: build the '{cfg.kind}' decoder with models.harmonic")
