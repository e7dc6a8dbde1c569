"""The instrument's API (issue #15): every endpoint with good and bad input (a bad request is a 4xx with a
message, never a 500), 50 concurrent decodes against a real uvicorn on loopback, a bounded fuzz from the
OpenAPI description, and the `latentsynth serve` command."""

import io
import json
import threading
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from latentsynth.cli import app as cli
from latentsynth.config import load_config
from latentsynth.serve import MAX_BODY, background_server, create_app
from latentsynth.synth import Synth
from latentsynth.training import train

from helpers import make_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def tiny_model(root: Path) -> Path:
    """A conditioned harmonic VAE on a tiny corpus (2 epochs, ~15 s), as in test_synth."""
    corpus = make_corpus(root / "corpus", per_instrument=6)
    cfg = load_config("sol-harmonic-vae", [
        f"data.corpus={corpus}", "train.max_epochs=2", "data.batch_size=64", "model.network.hidden=[64]",
        "train.eval_iw_samples=2", "train.eval_mmd_samples=100", "name=harm", "model.network.n_harmonics=16",
        "model.network.noise_bands=8", "data.pitch_test=0.25"])
    return train(cfg, root / "runs", quiet=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tiny_model(tmp_path_factory.mktemp("serve"))
    application = create_app([folder])
    return folder, application, TestClient(application)


@pytest.fixture(scope="module")
def plane(served):
    r = served[2].post("/api/models/harm/plane", json={})
    assert r.status_code == 200, r.text
    return r.json()


def sine_wav(seconds=0.6, hz=440.0, sr=22050) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.5 * np.sin(2 * np.pi * hz * t) * np.minimum(1, 20 * t)).astype("float32"), sr, format="WAV")
    return buf.getvalue()


def assert_4xx(r, status=None, match=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status is not None:
        assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    if match is not None:
        assert match in detail, detail


def test_models_and_their_info(served):
    _, _, c = served
    models = c.get("/api/models").json()
    assert [m["name"] for m in models] == ["harm"]
    info = c.get("/api/models/harm").json()
    assert info["latent_dim"] == 16 and info["sample_rate"] == 22050 and info["harmonic"] and info["conditioned"]
    assert info["vocab"]["instrument"] == ["Fl", "Tbn", "Vc"] and info["hop_seconds"] == pytest.approx(256 / 22050)
    assert_4xx(c.get("/api/models/nope"), 404, "unknown model 'nope'")
    assert_4xx(c.post("/api/models/nope/decode", json={"codes": [[0.0] * 16]}), 404)
    schema = c.get("/openapi.json").json()
    assert {"/api/models/{name}/decode", "/api/models/{name}/plane", "/api/models/{name}/encode",
            "/api/models/{name}/heatmap", "/api/models/{name}/path"} <= set(schema["paths"])
    page = c.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[1]
    js = c.get("/static/app.js").text
    assert "window.__ls" in js and "https://" not in js  # nothing fetched from the internet


def test_planes_pca_lda_dims(served, plane):
    folder, _, c = served
    synth = Synth.load(folder)
    d = synth.latent_dim
    for spec in ({"kind": "pca"}, {"kind": "lda"}, {"kind": "dims", "dims": [3, 5]}):
        p = c.post("/api/models/harm/plane", json=spec).json() if spec["kind"] != "pca" else plane
        full = torch.tensor([*p["basis"], *p["rest"]])
        assert full.shape == (d, d)
        torch.testing.assert_close(full @ full.T, torch.eye(d), atol=1e-4, rtol=0)  # basis + rest orthonormal
        assert len(p["points"]) == len(p["point_labels"]) == len(synth.codes.codes)
        x0, x1, y0, y1 = p["extent"]
        xy = np.array(p["points"])
        assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all() and (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all()
        assert p["notes"] and all(len(n["code"]) == d for n in p["notes"])
    dims = c.post("/api/models/harm/plane", json={"kind": "dims", "dims": [3, 5]}).json()
    assert dims["basis"][0][3] == 1 and dims["basis"][1][5] == 1
    lda = c.post("/api/models/harm/plane", json={"kind": "lda"}).json()
    # the LDA plane separates instruments better than the PCA plane: ratio of between- to within-class spread
    def separation(p):
        xy, inst = np.array(p["points"]), np.array(p["point_labels"])[:, 1]
        means = np.stack([xy[inst == k].mean(0) for k in np.unique(inst)])
        within = np.mean([xy[inst == k].var(0).sum() for k in np.unique(inst)])
        return means.var(0).sum() / within
    assert separation(lda) > separation(plane)
    assert_4xx(c.post("/api/models/harm/plane", json={"kind": "dims", "dims": [2, 2]}), match="dims")
    assert_4xx(c.post("/api/models/harm/plane", json={"kind": "dims", "dims": [0, 99]}), match="dims")
    assert_4xx(c.post("/api/models/harm/plane", json={"kind": "dims"}), match="dims")
    assert_4xx(c.post("/api/models/harm/plane", json={"kind": "tsne"}), 422, "kind")


def test_decode_points_and_paths(served, plane):
    _, _, c = served
    z = plane["notes"][0]["code"]
    r = c.post("/api/models/harm/decode", json={"codes": [z], "duration": 0.5, "pitch": 60, "instrument": "Vc"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    y, sr = sf.read(io.BytesIO(r.content))
    assert sr == 22050 and len(y) == pytest.approx(0.5 * sr, abs=256) and int(r.headers["x-samples"]) == len(y)
    assert float(r.headers["x-render-ms"]) > 0 and np.abs(y).max() > 1e-3
    f = c.post("/api/models/harm/decode", json={"codes": [z], "duration": 0.5, "pitch": 60, "instrument": "Vc",
                                                "format": "f32"})
    raw = np.frombuffer(f.content, "<f4")
    assert len(raw) == len(y) and np.abs(raw - y).max() < 1e-3  # same audio, float32 PCM
    # a path in plane coordinates with a pitch curve, constant speed, 1 s
    r = c.post("/api/models/harm/decode", json={
        "xy": [[0, 0], [1, 0.5], [0.5, -1]], "plane": {"kind": "pca", "rest": [0.5, -0.5]}, "duration": 1.0,
        "constant_speed": True, "pitch": [60, 62, 64], "dynamics": "mf", "format": "f32"})
    assert r.status_code == 200, r.text
    assert len(np.frombuffer(r.content, "<f4")) == pytest.approx(22050, abs=256)
    # without duration: one hop per point
    r = c.post("/api/models/harm/decode", json={"codes": [z] * 10, "format": "f32"})
    assert int(r.headers["x-samples"]) == pytest.approx(10 * 256, abs=256)


def test_held_blocks_continue_the_phase(served, plane):
    """X-Phase: the fundamental's phase (cycles) at ``phase_at`` seconds into the block, the next block's start."""
    _, _, c = served
    z = plane["notes"][0]["code"]
    body = {"codes": [z], "duration": 0.5, "pitch": 60, "instrument": "Vc", "format": "f32", "phase_at": 0.495}
    r = c.post("/api/models/harm/decode", json=body)
    n = round(0.495 * 22050)
    f0 = 440 * 2 ** ((60 - 69) / 12)  # a point decoded at pitch 60 has no detune: f0 is constant
    assert float(r.headers["x-phase"]) == pytest.approx((f0 * n / 22050) % 1, abs=1e-4)  # truth: the formula
    r2 = c.post("/api/models/harm/decode", json={**body, "phase": float(r.headers["x-phase"])})
    assert float(r2.headers["x-phase"]) == pytest.approx((2 * f0 * n / 22050) % 1, abs=1e-4)
    assert c.post("/api/models/harm/decode", json={**body, "phase": 1.5}).status_code == 422


@pytest.mark.parametrize("body, status, match", [
    (b"{not json", 422, "malformed JSON"),
    (b'{"codes": [[NaN' + b", 0" * 15 + b"]]}", 422, "finite"),
    (b'{"codes": [[Infinity' + b", 0" * 15 + b"]]}", 422, "finite"),
    (json.dumps({"codes": [[0.0] * 5]}).encode(), 400, "latent_dim is 16"),
    (json.dumps({"codes": [[0.0] * 16, [0.0] * 15]}).encode(), 400, "point 1"),
    (json.dumps({"codes": []}).encode(), 422, "codes"),
    (json.dumps({"codes": [[0.0] * 16], "instrument": "Kazoo"}).encode(), 400, "Kazoo"),
    (json.dumps({"codes": [[0.0] * 16], "pitch": 200}).encode(), 422, "pitch"),
    (json.dumps({"codes": [[0.0] * 16], "pitch": [60, 61]}).encode(), 400, "pitch"),
    (json.dumps({"codes": [[0.0] * 16], "duration": -1}).encode(), 422, "duration"),
    (json.dumps({"codes": [[0.0] * 16], "duration": 1e9}).encode(), 422, "duration"),
    (json.dumps({"codes": [[0.0] * 16], "method": "magic"}).encode(), 422, "method"),
    (json.dumps({"codes": [[0.0] * 16], "surprise": 1}).encode(), 422, "surprise"),
    (json.dumps({"xy": [[0, 0]], "codes": [[0.0] * 16]}).encode(), 400, "either"),
    (json.dumps({}).encode(), 400, "either"),
    (json.dumps({"xy": [[0, 0]], "plane": {"rest": [0.0] * 30}}).encode(), 400, "rest"),
    (json.dumps({"codes": [[0.0] * 16] * 20_001}).encode(), 422, "20000"),
    (json.dumps([1, 2, 3]).encode(), 422, None),
])
def test_decode_rejects_bad_requests_with_a_message(served, body, status, match):
    r = served[2].post("/api/models/harm/decode", content=body, headers={"content-type": "application/json"})
    assert_4xx(r, status, match)


def test_oversize_bodies_are_refused(served):
    c = served[2]
    r = c.post("/api/models/harm/decode", content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"})
    assert_4xx(r, 413, "limit")

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    r = c.post("/api/models/harm/decode", content=chunks(), headers={"content-type": "application/json"})
    assert_4xx(r, 413, "limit")


def test_encode_an_uploaded_recording(served):
    _, _, c = served
    r = c.post("/api/models/harm/encode", files={"file": ("a4.wav", sine_wav(), "audio/wav")},
               data={"instrument": "Fl", "plane": "dims", "dims": "0,1"})
    assert r.status_code == 200, r.text
    out = r.json()
    n = len(out["path"]["codes"])
    assert n > 10 and len(out["xy"]) == n and out["path"]["instrument"] == "Fl"
    pitch = out["path"]["pitch"]
    assert np.median(pitch if isinstance(pitch, list) else [pitch]) == pytest.approx(69, abs=0.6)  # estimated A4
    np.testing.assert_allclose(np.array(out["xy"]), np.array(out["path"]["codes"])[:, :2] -
                               np.array(c.post("/api/models/harm/plane", json={"kind": "dims", "dims": [0, 1]})
                                        .json()["centre"][:2]), atol=1e-3)
    assert_4xx(c.post("/api/models/harm/encode", files={"file": ("x.wav", b"not audio" * 50, "audio/wav")}), 400,
               "x.wav")
    assert_4xx(c.post("/api/models/harm/encode", files={"file": ("a.wav", sine_wav(), "audio/wav")},
                      data={"instrument": "Kazoo"}), 400, "Kazoo")
    assert_4xx(c.post("/api/models/harm/encode", data={"instrument": "Fl"}), 422, "file")
    assert_4xx(c.post("/api/models/harm/encode", files={"file": ("a.wav", sine_wav(), "audio/wav")},
                      data={"dims": "a,b", "plane": "dims"}), 422, "dims")


def test_heatmaps_density_and_descriptors(served, plane):
    _, _, c = served
    dens = c.post("/api/models/harm/heatmap", json={"quantity": "density", "size": 16}).json()
    v = np.array(dens["values"]).reshape(16, 16)
    assert dens["max"] == pytest.approx(1) and v.min() >= 0 and dens["extent"] == pytest.approx(plane["extent"])
    # the densest cell is near the training codes' mean (the plane's centre is at 0, 0)
    x0, x1, y0, y1 = dens["extent"]
    iy, ix = np.unravel_index(v.argmax(), v.shape)
    gx, gy = x0 + ix * (x1 - x0) / 15, y0 + iy * (y1 - y0) / 15
    assert np.hypot(gx, gy) < 0.5 * max(x1 - x0, y1 - y0)
    for q, unit in (("centroid", "Hz"), ("loudness", "dB")):
        h = c.post("/api/models/harm/heatmap", json={"quantity": q, "size": 8, "pitch": 60, "instrument": "Vc",
                                                     "plane": {"kind": "lda"}}).json()
        assert len(h["values"]) == 64 and h["unit"] == unit and np.isfinite(h["values"]).all()
    assert_4xx(c.post("/api/models/harm/heatmap", json={"extent": [1, 0, 0, 1]}), 400, "extent")
    assert_4xx(c.post("/api/models/harm/heatmap", json={"size": 1000}), 422, "size")
    assert_4xx(c.post("/api/models/harm/heatmap", json={"quantity": "sparkle"}), 422, "quantity")


def test_paths_from_the_generators(served, plane):
    _, _, c = served
    a, b = plane["notes"][0]["index"], plane["notes"][-1]["index"]
    for body in ({"kind": "circle"}, {"kind": "spiral", "options": {"revolutions": 2}}, {"kind": "walk"},
                 {"kind": "lerp", "notes": [a, b]}, {"kind": "geodesic", "notes": [a, b], "options": {"steps": 10}},
                 {"kind": "traversal", "options": {"pc": 1}}, {"kind": "circle", "plane": {"kind": "dims",
                                                                                           "dims": [2, 4]}}):
        r = c.post("/api/models/harm/path", json={"points": 50, "pitch": 62, "instrument": "Vc", **body})
        assert r.status_code == 200, (body, r.text)
        out = r.json()
        assert len(out["path"]["codes"]) == len(out["xy"]) == 50
        assert out["path"]["pitch"] == 62 and out["path"]["instrument"] == "Vc"
        assert out["path"]["meta"]["generator"] == body["kind"]
    circle = c.post("/api/models/harm/path", json={"kind": "circle", "points": 40,
                                                   "plane": {"kind": "dims", "dims": [2, 4]}}).json()
    xy = np.array(circle["xy"])  # a circle in the dims plane is drawn as a circle there
    r = np.hypot(*(xy - xy.mean(0)).T)
    assert r.std() < 0.1 * r.mean()
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "lerp"}), 400, "needs 2 note")
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "lerp", "notes": [a, 99999]}), 400, "99999")
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "traversal", "options": {"dim": 40}}), 400, "dim")
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "teleport"}), 422, "kind")
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "walk", "points": 10**6}), 422, "points")
    assert_4xx(c.post("/api/models/harm/path", content=b'{"kind": "walk", "options": {"step": NaN}}',
                      headers={"content-type": "application/json"}), 422, "finite")
    assert_4xx(c.post("/api/models/harm/path", json={"kind": "walk", "instrument": "Kazoo"}), 400, "Kazoo")
    path = c.post("/api/models/harm/path", json={"kind": "lerp", "notes": [a, b], "points": 20}).json()["path"]
    again = c.post("/api/models/harm/path", json={"kind": "polyline", "paths": [path, path], "points": 30})
    assert again.status_code == 200 and len(again.json()["xy"]) == 30  # path files in, as the page loads them


def test_project(served, plane):
    _, _, c = served
    codes = [n["code"] for n in plane["notes"][:5]]
    xy = c.post("/api/models/harm/project", json={"codes": codes}).json()["xy"]
    np.testing.assert_allclose(xy, [n["xy"] for n in plane["notes"][:5]], atol=1e-4)
    assert_4xx(c.post("/api/models/harm/project", json={"codes": [[1.0, 2.0]]}), 400, "latent_dim")


def post(url, body) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, dict(r.headers), r.read()


def test_fifty_concurrent_decodes_on_a_real_server(served, plane):
    folder, application, _ = served
    synth = Synth.load(folder)
    z = torch.tensor(plane["notes"][0]["code"])
    pitches = [48 + (i % 12) for i in range(50)]
    n = int(np.ceil(0.5 / synth.hop_seconds))
    expected = {p: synth.render(z.expand(n, -1), synth.labels(n, p, "Fl")) for p in set(pitches)}
    results: dict[int, object] = {}

    with background_server(application) as url:
        assert url.startswith("http://127.0.0.1:")

        def one(i):
            try:
                results[i] = post(f"{url}/api/models/harm/decode",
                                  {"codes": [z.tolist()], "duration": 0.5, "pitch": pitches[i], "instrument": "Fl",
                                   "format": "f32"})
            except Exception as err:  # noqa: BLE001 - reported below
                results[i] = err

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(results) == 50
    for i, res in results.items():
        assert not isinstance(res, Exception), res
        status, headers, body = res
        y = np.frombuffer(body, "<f4")
        assert status == 200 and len(y) == int(headers["x-samples"]) == pytest.approx(0.5 * 22050, abs=256)
        # each answer is its own request's audio (pitch), not a neighbour's: same start as a direct render
        ref = expected[pitches[i]]
        assert len(ref) == len(y) and np.abs(ref - y).max() < 1e-4, i


def test_openapi_fuzz_has_no_server_errors(served):
    """A bounded fuzz of every endpoint from the OpenAPI description (schemathesis, in-process ASGI)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    _, application, _ = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", application)
    failures, statuses = [], []
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 8
    def fuzzer(op):
        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def fuzz(case):
            r = case.call()
            statuses.append(r.status_code)
            if r.status_code >= 500:
                failures.append((op.label, r.status_code, r.text[:200]))

        return fuzz

    for op in operations:
        fuzzer(op)()
    assert not failures, failures
    assert len(statuses) >= 40 and any(s == 200 for s in statuses)  # it did call, good requests included


def test_serve_command(served, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "--threads" in r.output
    r = runner.invoke(cli, ["serve", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "error:" in r.output
    r = runner.invoke(cli, ["serve", str(served[0]), "--port", "99999"])
    assert r.exit_code == 2
