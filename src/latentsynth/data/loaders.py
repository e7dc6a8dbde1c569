"""The loaders shared by the image and frame data modules: :class:`SplitDataModule` (train / val / test loaders
of batches) and :class:`EpochSampler` (the seeded, resumable, DDP-sharded training order)."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def passthrough_collate(batch):
    """``__getitems__`` already returns a stacked batch."""
    return batch


def _rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialised torch.distributed process group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSampler(Sampler[int]):
    """Random permutation that depends only on (seed, epoch), so a resumed run sees the same batches.

    Under torch.distributed (Lightning DDP, which does not replace a custom sampler: the trainer runs with
    ``use_distributed_sampler=False``) rank r of W takes ``perm[r::W]`` of the same permutation, cut to
    ``n // W`` items so every rank runs the same number of batches; the ranks' slices are disjoint.
    """

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        rank, world = _rank_and_world()
        if world > 1:
            perm = perm[rank:(self.n // world) * world:world]
        return iter(perm.tolist())

    def __len__(self) -> int:
        return self.n // _rank_and_world()[1]


class SplitDataModule(L.LightningDataModule):
    """The loaders shared by the image and frame data modules: ``self.train`` / ``val`` / ``test`` datasets
    (set by ``setup``), batches of ``cfg.batch_size``, training order reshuffled each epoch from ``seed``."""

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        sampler = EpochSampler(len(ds), self.seed) if shuffle else None
        return DataLoader(ds, batch_size=self.cfg.batch_size, sampler=sampler, collate_fn=passthrough_collate,
                          num_workers=self.cfg.num_workers, persistent_workers=self.cfg.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)
