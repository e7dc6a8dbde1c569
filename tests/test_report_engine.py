"""The one report engine of sweeps and the synthesis study: mean ± std, the Welch cell, seed-suffixed names and
the study's columns from metric_table, checked by hand."""

import math

from latentsynth.bench.report import P_SIGNIFICANT, mean_std, welch, welch_cell
from latentsynth.bench.sweep import group_name, seeded_name
from latentsynth.bench.synthesis_study import DIRECTION, KEY_METRICS
from latentsynth.metric_table import METRIC


def test_mean_std_and_welch_cells_by_hand():
    m, s, n = mean_std([1.0, 2.0, None, float("nan"), 6.0])
    assert (m, n) == (3.0, 3) and math.isclose(s, math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))
    assert mean_std([4.0])[1:] == (0.0, 1) and mean_std([])[2] == 0
    a, b = [10.0, 12.0, 11.0, 13.0], [1.0, 2.0, 1.5, 2.5]
    d, se, p = welch(a, b)
    assert p < P_SIGNIFICANT
    assert welch_cell((d, se, p)) == f"{d:+.2f} ± {se:.2f} *"  # sweep effects: digits by scale
    assert welch_cell((d, se, p), (".3g", ".2g"), with_p=True) == f"{d:+.3g} ± {se:.2g} (p {p:.2g}) *"  # study
    assert welch_cell((0.5, None, None), (".3g", ".2g"), with_p=True) == "+0.5" and welch_cell(None) == "–"
    assert welch_cell((0.01, 0.2, 0.9)) == "+0.0100 ± 0.2000"  # not significant: no mark


def test_seed_names_and_study_columns():
    assert seeded_name("harmonic-vae", 3) == "harmonic-vae-s3" and group_name("harmonic-vae-s3") == "harmonic-vae"
    assert group_name("mlp-ae-bce") == "mlp-ae-bce" and group_name("wae-s1-s12") == "wae-s1"
    assert KEY_METRICS[0] == "centroid_smoothness" and "fad" in KEY_METRICS
    assert all(METRIC[k].direction == DIRECTION.get(k) for k in KEY_METRICS)
    assert "decoded_length" not in DIRECTION  # not ranked
