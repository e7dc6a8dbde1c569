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

    def order(self) -> torch.Tensor:
        """This rank's indices of this epoch, in order ``[len(self)]`` (int64)."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        rank, world = _rank_and_world()
        if world > 1:
            perm = perm[rank:(self.n // world) * world:world]
        return perm

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.n // _rank_and_world()[1]


class EpochBatchSampler(Sampler[torch.Tensor]):
    """The batches of :class:`EpochSampler`'s order, as index tensors ``[B]`` (the last one shorter): the same
    batches as ``BatchSampler(EpochSampler(n, seed), batch_size, drop_last=False)``, without turning every index
    into a Python int and each batch back into a tensor (``__getitems__`` takes the tensor as it is; about 50 us
    per batch of 256 on CPU, ``benchmarks/train_speed_audio.py``). The order is ``self.sampler``, the attribute
    where Lightning looks for a batch sampler's ``set_epoch`` (as on torch's ``BatchSampler``)."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        self.sampler, self.batch_size = EpochSampler(n, seed), batch_size

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[torch.Tensor]:
        # a generator, as BatchSampler's: the order is drawn at the first batch, after Lightning's set_epoch (the
        # loader's iterator may be made before it)
        yield from self.sampler.order().split(self.batch_size)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)


class SplitDataModule(L.LightningDataModule):
    """The loaders shared by the image and frame data modules: ``self.train`` / ``val`` / ``test`` datasets
    (set by ``setup``), batches of ``cfg.batch_size``, training order reshuffled each epoch from ``seed``."""

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        workers = {"collate_fn": passthrough_collate, "num_workers": self.cfg.num_workers,
                   "persistent_workers": self.cfg.num_workers > 0}
        if shuffle:  # the datasets' __getitems__ take a batch's index tensor
            return DataLoader(ds, batch_sampler=EpochBatchSampler(len(ds), self.cfg.batch_size, self.seed), **workers)
        return DataLoader(ds, batch_size=self.cfg.batch_size, **workers)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """A batch of tensors already on ``device`` (every batch on CPU) as it is; else Lightning's move, which
        walks the batch as a collection and calls ``.to`` on each tensor (a no-op there; ~20 us a batch)."""
        if type(batch) in (tuple, list) and all(type(t) is torch.Tensor and t.device == device for t in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)
