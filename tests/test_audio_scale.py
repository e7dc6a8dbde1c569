"""The frame cache at scale: parts read lazily, the earlier single-file format, content verification."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentsynth.data.audio import corpus as C
from latentsynth.data.audio import frames as F
from latentsynth.data.audio.frames import FrameIndex, PrepConfig, prepare
from latentsynth.dsp import SpecConfig

from helpers import NOTE_SR, harmonic, make_corpus

CFG = PrepConfig(spec=SpecConfig(n_fft=512, hop_length=256))
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "corpus", per_instrument=4)


def test_parts_read_lazily_give_the_frames_of_one_build(corpus, tmp_path):
    small = prepare(corpus, CFG, tmp_path / "small", workers=1, quiet=True, part_notes=3)
    whole = prepare(corpus, CFG, tmp_path / "whole", workers=1, quiet=True, part_notes=1000)
    assert len(json.loads((small / "parts.json").read_text())["parts"]) == 4
    a, b = F.FrameStore(small), F.FrameStore(whole)
    ref = np.asarray(b)
    np.testing.assert_array_equal(np.asarray(a), ref)
    rows = np.random.default_rng(0).integers(0, len(ref), 50)
    np.testing.assert_array_equal(a.take(rows), ref[rows])  # across part boundaries, in any order
    np.testing.assert_array_equal(a[5:len(ref) - 2], ref[5:-2])
    copy = pickle.loads(pickle.dumps(a))  # what a spawned DataLoader worker gets: it opens its own files
    np.testing.assert_array_equal(copy.take(rows[::-1]), ref[rows[::-1]])
    index = FrameIndex(small)
    for split in ("train", "val", "test"):  # vectorised windows against a plain loop over the notes
        for window, hop in ((1, 1), (4, 3)):
            starts, ids, frames = index.windows(split, window, hop)
            pairs = enumerate(zip(index.notes, index.note_split, strict=True))
            loop = [(int(r["frame_start"]) + t, k, t) for k, (r, s) in pairs
                    if s == split for t in range(0, int(r["n_frames"]) - window + 1, hop)]
            assert list(zip(starts.tolist(), ids.tolist(), frames.tolist(), strict=True)) == loop


def test_data_module_reads_lazily_beyond_the_memory_budget(corpus, monkeypatch):
    from latentsynth.config import load_config
    from latentsynth.data.audio import datamodule as D

    cfg = load_config("sol-ae", [f"data.corpus={corpus}", "data.window=3"]).data
    eager = D.FrameDataModule(cfg)
    eager.setup()
    monkeypatch.setattr(D, "IN_MEMORY_MB", 0.0)
    lazy = D.FrameDataModule(cfg)
    lazy.setup()
    assert isinstance(lazy.frames, D.LazyFrames) and isinstance(eager.frames, torch.Tensor)
    idx = list(range(0, len(eager.train), 7))
    xe, ye = eager.train.__getitems__(idx)
    xl, yl = lazy.train.__getitems__(idx)
    torch.testing.assert_close(xl, xe)
    assert torch.equal(yl, ye)
    torch.testing.assert_close(lazy.note_tensor(2), eager.note_tensor(2))
    torch.testing.assert_close(lazy.test[3][0], eager.test[3][0])
    loader = lazy.train_dataloader()
    assert next(iter(loader))[0].shape == (cfg.batch_size if len(lazy.train) >= cfg.batch_size
                                           else len(lazy.train), 3, 513)


def test_verify_rebuilds_a_note_whose_content_changed_behind_size_and_mtime(corpus, monkeypatch):
    out = prepare(corpus, CFG, workers=1, quiet=True)
    notes = C.read_metadata(corpus)
    f = corpus / notes[2].path
    st = f.stat()
    data = bytearray(f.read_bytes())
    y = harmonic(330.0, 0.5)
    C.write_wav(f, np.resize(y, (len(data) - 44) // 2), NOTE_SR)
    assert f.stat().st_size == st.st_size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only the content tells
    real, calls = F.note_features, []
    monkeypatch.setattr(F, "note_features", lambda p, c: calls.append(p) or real(p, c))
    assert prepare(corpus, CFG, workers=1, quiet=True) == out and not calls  # the quick check misses it
    before = FrameIndex(out).note_frames(2)
    from latentsynth.cli import app

    res = CliRunner().invoke(app, ["audio", "prepare", str(corpus), "--n-fft", "512", "--verify", "-q"])
    assert res.exit_code == 0, res.output
    assert calls == [str(f)] and f"rebuilt {notes[2].path}" in res.output and "1 note(s) rebuilt" in res.output
    after = FrameIndex(out).note_frames(2)
    np.testing.assert_allclose(after[: len(after)], real(f, CFG)[: len(after)], atol=0.05)
    assert before.shape != after.shape or not np.allclose(before, after)
    assert json.loads((out / "build_report.json").read_text())["rebuilt"] == [notes[2].path]


def test_a_cache_of_the_single_file_format_is_read_and_converted(corpus, monkeypatch):
    out = prepare(corpus, CFG, workers=1, quiet=True, part_notes=2)
    ref, rows = np.asarray(F.FrameStore(out)), F._read_notes(out)
    # the earlier format: one features.npy, and the tag in a shard column
    np.save(out / "features.npy", ref)
    cols = [c for c in rows[0] if c not in ("part", "part_start", "tag", "content")] + ["shard"]
    lines = [",".join(cols)] + [",".join([*(r[c] for c in cols[:-1]), f"x-{r['tag']}.npy"]) for r in rows]
    (out / "notes.csv").write_text("\n".join(lines) + "\n")
    for p in (out / "parts").iterdir():
        p.unlink()
    (out / "parts.json").unlink()
    np.testing.assert_array_equal(np.asarray(FrameIndex(out).features), ref)  # readable as it is
    notes = C.read_metadata(corpus)
    C.write_metadata(corpus, notes[1:])  # a changed corpus: converted, unchanged notes copied, none computed
    monkeypatch.setattr(F, "note_features", lambda *a: pytest.fail("an unchanged note was computed again"))
    prepare(corpus, CFG, workers=1, quiet=True)
    assert not (out / "features.npy").exists() and (out / "parts.json").is_file()
    got = F.FrameStore(out)
    new = {r["path"]: r for r in F._read_notes(out)}
    for r in rows[1:]:
        np.testing.assert_array_equal(got.read(int(new[r["path"]]["frame_start"]), int(r["n_frames"])),
                                      ref[int(r["frame_start"]): int(r["frame_start"]) + int(r["n_frames"])])
