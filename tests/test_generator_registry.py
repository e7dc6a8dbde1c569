"""A path generator is one registered function: make_path finds it, checks its notes, keeps the note's labels."""

from pathlib import Path

import pytest
import torch

from latentsynth.synth import Synth, SynthError, make_path
from latentsynth.synth.generators import GENERATORS, KINDS, NEEDS_NOTES, generator
from latentsynth.synth.notes import code_sample_note

MODEL = Path(__file__).resolve().parents[1] / "models" / "sol" / "harmonic-wae-mmd"


def test_a_new_generator_is_one_registered_function():
    assert tuple(GENERATORS) == KINDS and NEEDS_NOTES == {k: g.notes for k, g in GENERATORS.items() if g.notes}
    synth = Synth.load(MODEL)
    note = code_sample_note(synth, 0)

    @generator("to-centre", notes=1)
    def to_centre(r):
        t = torch.linspace(0, 1, r.points)[:, None]
        r.meta["toy"] = True
        return (1 - t) * r.start + t * r.centre

    try:
        pf = make_path(synth, "to-centre", [note], points=9)
        centre = synth.codes.codes.mean(0)
        want = torch.stack([note.z.mean(0) + k / 8 * (centre - note.z.mean(0)) for k in range(9)])
        assert torch.allclose(pf.z, want, atol=2e-6)
        assert pf.meta["generator"] == "to-centre" and pf.meta["toy"] and pf.instrument == note.instrument
        assert pf.pitch == note.pitch
        with pytest.raises(SynthError, match="to-centre: needs 1 note paths"):
            make_path(synth, "to-centre", [], points=9)
    finally:
        GENERATORS.pop("to-centre")
    with pytest.raises(SynthError, match="kind: one of lerp, slerp"):
        make_path(synth, "to-centre", [note])
