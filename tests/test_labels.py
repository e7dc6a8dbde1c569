"""The label codec of AudioInfo: names <-> indices <-> label tensors, pitch curves and the pitch-range check."""

import pytest
import torch

from latentsynth.dsp.transforms import NormStats, SpecConfig
from latentsynth.models.conditioning import LABELS, AudioInfo, LabelError

VOCAB = {"instrument": ["Fl", "Vc", "Tbn"], "dynamics": ["pp", "mf", "ff"], "style": ["ord"]}


def _info() -> AudioInfo:
    stats = NormStats(mean=[0.0] * 513, std=[1.0] * 513, min=-80, max=0, count=1)
    return AudioInfo(spec=SpecConfig(), normalize="minmax", stats=stats, vocab=VOCAB, pitch_range=(48, 72))


def test_names_to_tensor_and_back():
    info = _info()
    c = info.labels(3, 61.5, "Tbn", "mf")
    assert c.shape == (3, len(LABELS)) and c.dtype == torch.float32
    for row in c:
        assert float(row[LABELS.index("pitch")]) == 61.5
        assert int(row[LABELS.index("instrument")]) == VOCAB["instrument"].index("Tbn")
        assert info.names_of(row) == {"instrument": "Tbn", "dynamics": "mf", "style": "ord"}  # missing: the first
    assert info.name_of("instrument", 7) is None and info.name_of("instrument", -1) is None
    # default pitch: the middle of the range; a curve fills the pitch column
    assert float(info.labels(1)[0, 0]) == 60.0
    curve = torch.linspace(50, 70, 5)
    assert torch.equal(info.labels(5, curve, "Vc")[:, LABELS.index("pitch")], curve)


def test_bad_labels_are_named():
    info = _info()
    with pytest.raises(LabelError, match="instrument: unknown value 'Oboe'; the model knows Fl, Vc, Tbn"):
        info.labels(1, 60, "Oboe")
    with pytest.raises(LabelError, match="a curve of 3 values for a path of 5 points"):
        info.labels(5, torch.tensor([60.0, 61, 62]))
    with pytest.raises(LabelError, match=r"outside the model's range, MIDI 48-72"):
        info.labels(1, 73.0)
    assert float(info.labels(1, 84.0, margin=12)[0, 0]) == 84.0  # within the margin
    with pytest.raises(LabelError, match=r"MIDI 36-84"):
        info.labels(2, torch.tensor([60.0, 84.6]), margin=12)
    assert float(info.labels(1, 100.0, check_range=False)[0, 0]) == 100.0
    with pytest.raises(LabelError, match="not a MIDI pitch"):
        info.labels(1, 130.0, check_range=False)
