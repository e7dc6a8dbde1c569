"""The training loader's batches: index tensors from EpochBatchSampler, taken as they are by __getitems__."""

from types import SimpleNamespace

import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import BatchSampler, DataLoader

import latentsynth.data.loaders as loaders
from latentsynth.data.audio.datamodule import FrameWindows
from latentsynth.data.loaders import EpochBatchSampler, EpochSampler, SplitDataModule


@pytest.mark.parametrize("world", [1, 2])
def test_epoch_batches_are_torch_batch_sampler_over_the_epoch_order(monkeypatch, world):
    # the truth: torch's BatchSampler over the per-item sampler, what the loader used before
    monkeypatch.setattr(loaders, "_rank_and_world", lambda: (world - 1, world))
    for epoch in (0, 1, 5):
        items, batches = EpochSampler(103, seed=7), EpochBatchSampler(103, 10, seed=7)
        items.set_epoch(epoch)
        batches.set_epoch(epoch)
        want = list(BatchSampler(items, 10, drop_last=False))
        got = list(batches)
        assert len(batches) == len(want) == len(got)
        assert [b.tolist() for b in got] == want
        assert all(b.dtype == torch.int64 for b in got)
    assert list(EpochBatchSampler(103, 10, seed=7))[0].tolist() != list(EpochBatchSampler(103, 10, seed=8))[0].tolist()


@pytest.mark.parametrize("window", [1, 3])
def test_frame_windows_batches_equal_items(window):
    frames = torch.randn(40, 6)
    starts, notes = torch.tensor([0, 3, 9, 20, 30, 36]), torch.tensor([0, 0, 1, 2, 3, 3])
    labels = torch.randn(4, 4)
    ds = FrameWindows(frames, starts.numpy(), notes.numpy(), window, labels)
    idx = [4, 0, 5, 2, 2]
    want_x = torch.stack([ds[i][0] for i in idx])  # the per-item path: a slice of the frames
    want_y = torch.stack([ds[i][1] for i in idx])
    for index in (idx, torch.tensor(idx)):
        x, y = ds.__getitems__(index)
        assert x.shape == (5, window, 6)
        torch.testing.assert_close(x, want_x, rtol=0, atol=0)
        torch.testing.assert_close(y, want_y, rtol=0, atol=0)
    assert ds.__getitems__([])[0].shape == (0, window, 6)


def test_training_loader_yields_the_sampler_batches():
    class Data(SplitDataModule):
        def __init__(self):
            super().__init__()
            self.cfg, self.seed = SimpleNamespace(batch_size=4, num_workers=0), 3
            self.train = FrameWindows(torch.arange(22.0)[:, None], torch.arange(22).numpy(),
                                      torch.zeros(22, dtype=torch.long).numpy(), 1, torch.zeros(1, 4))

    loader = Data().train_dataloader()
    orders = []
    for epoch in (0, 2):
        _set_sampler_epoch(loader, epoch)  # what Lightning's fit loop calls at each epoch's start
        want = EpochSampler(22, seed=3)
        want.set_epoch(epoch)
        got = [x[:, 0, 0].long().tolist() for x, _ in loader]
        assert got == list(BatchSampler(want, 4, drop_last=False))
        orders.append(got)
    assert orders[0] != orders[1]  # a new order each epoch
    # the loader's iterator may be made before Lightning sets the epoch (a resumed run): the order is drawn at the
    # first batch, as with torch's BatchSampler over the per-item sampler (the loader before)
    before = DataLoader(loader.dataset, batch_size=4, sampler=EpochSampler(22, seed=3), collate_fn=lambda b: b)
    for dl in (loader, before):
        _set_sampler_epoch(dl, 0)
        it = iter(dl)
        _set_sampler_epoch(dl, 2)
        orders.append([b[0][:, 0, 0].long().tolist() for b in it])
    assert orders[2] == orders[3] == orders[1]


def test_batches_on_their_device_are_not_walked():
    data = SplitDataModule()
    batch = (torch.zeros(2, 3), torch.ones(2, 4))
    assert data.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = data.transfer_batch_to_device(batch, torch.device("meta"), 0)  # another device: Lightning's move
    assert [t.device.type for t in moved] == ["meta", "meta"] and [t.shape for t in moved] == [(2, 3), (2, 4)]
