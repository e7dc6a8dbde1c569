"""Lightning DDP from the command line: 2 CPU processes (gloo) train one run folder, as one process would."""

import json
import os
import subprocess
import sys

import pytest

from latentsynth.data.loaders import EpochSampler

ARGS = ["mnist-ae", "data.train_subset=2000", "data.val_size=500", "model.network.hidden=[32]",
        "train.max_epochs=1", "train.accelerator=cpu"]


def _train(out, data_dir, *extra, timeout=120):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "GROUP_RANK", "SLURM_PROCID")}
    env.update(LATENTSYNTH_DATA=str(data_dir), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "latentsynth", "train", *ARGS, *extra, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["mnist-ae"], runs
    assert proc.stdout.count("saved model folder") == 1, proc.stdout  # rank 1 says nothing
    return json.loads((runs[0] / "metrics.json").read_text())


def test_epoch_sampler_shards_are_disjoint_slices_of_one_permutation(monkeypatch):
    import latentsynth.data.loaders as loaders

    whole = list(EpochSampler(101, seed=3))
    shards = []
    for rank in range(2):
        monkeypatch.setattr(loaders, "_rank_and_world", lambda r=rank: (r, 2))
        s = EpochSampler(101, seed=3)
        assert len(s) == 50
        shards.append(list(s))
    assert not set(shards[0]) & set(shards[1])
    assert shards[0] == whole[0:100:2] and shards[1] == whole[1:100:2]


def test_ddp_two_cpu_processes_match_one_process(real_data_dir, tmp_path):
    # batch 50 on each of 2 ranks: rank r takes perm[r::2], so each step averages the gradients of the same 100
    # images that one process with batch 100 sees -> the same run up to float reduction order
    ddp = _train(tmp_path / "ddp", real_data_dir, "train.devices=2", "train.strategy=ddp", "data.batch_size=50")
    one = _train(tmp_path / "one", real_data_dir, "data.batch_size=100")
    assert ddp["epochs"] == one["epochs"] == 1
    assert ddp["test_bce"] == pytest.approx(one["test_bce"], rel=0.02), (ddp["test_bce"], one["test_bce"])
