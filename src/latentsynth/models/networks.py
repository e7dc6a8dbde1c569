"""Encoder and decoder networks for data of shape ``[C, H, W]`` (images) or any flat shape (MLP).

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


class MLPEncoder(nn.Module):
    """``[B, *shape]`` -> ``[B, out_dim]``."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int], out_dim: int):
        super().__init__()
        self.net = _mlp([math.prod(shape), *hidden, out_dim])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """``[B, latent]`` -> ``[B, *shape]`` (raw outputs: logits or means before the likelihood's link)."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int], latent: int):
        super().__init__()
        self.shape = tuple(shape)
        self.net = _mlp([latent, *reversed(hidden), math.prod(shape)])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), *self.shape)


def _norm(ch: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(ch) if batchnorm else nn.Identity()


class ConvEncoder(nn.Module):
    """``[B, C, H, W]`` -> ``[B, out_dim]``: Conv(k4, s2, p1) + BN + ReLU per width, then Linear."""

    def __init__(self, shape: tuple[int, ...], channels: list[int], out_dim: int, batchnorm: bool = True):
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"model.network.kind: conv needs [C, H, W] inputs, got shape {shape}; use mlp")
        layers: list[nn.Module] = []
        c_in = shape[0]
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), _norm(c, batchnorm), nn.ReLU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            self.conv.eval()  # BatchNorm cannot take a batch of one in training mode
            flat = self.conv(torch.zeros(1, *shape)).numel()
            self.conv.train()
        self.head = nn.Linear(flat, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """``[B, latent]`` -> ``[B, C, H, W]``: Linear to a ceil(H/2^L) x ceil(W/2^L) map, then L transposed
    convolutions (k4, s2, p1) doubling the size, cropped to H x W."""

    def __init__(self, shape: tuple[int, ...], channels: list[int], latent: int, batchnorm: bool = True):
        super().__init__()
        c_out, self.h, self.w = shape
        n = len(channels)
        self.h0, self.w0 = math.ceil(self.h / 2**n), math.ceil(self.w / 2**n)
        rev = list(reversed(channels))
        self.c0 = rev[0]
        self.head = nn.Sequential(nn.Linear(latent, self.c0 * self.h0 * self.w0), nn.ReLU())
        layers: list[nn.Module] = []
        for a, b in zip(rev[:-1], rev[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), _norm(b, batchnorm), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(rev[-1], c_out, 4, 2, 1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        y = self.deconv(self.head(z).view(len(z), self.c0, self.h0, self.w0))
        top, left = (y.shape[2] - self.h) // 2, (y.shape[3] - self.w) // 2
        return y[:, :, top : top + self.h, left : left + self.w]


def build_encoder(cfg: NetworkConfig, shape: tuple[int, ...], out_dim: int) -> nn.Module:
    if cfg.kind == "mlp":
        return MLPEncoder(shape, cfg.hidden, out_dim)
    return ConvEncoder(shape, cfg.channels, out_dim, cfg.batchnorm)


def build_decoder(cfg: NetworkConfig, shape: tuple[int, ...], latent: int) -> nn.Module:
    if cfg.kind == "mlp":
        return MLPDecoder(shape, cfg.hidden, latent)
    return ConvDecoder(shape, cfg.channels, latent, cfg.batchnorm)
