"""The instrument under faults (issue #27), against a real uvicorn on loopback: concurrent clients holding voices
while others drop their connection mid-render and send garbage (no 5xx, every block of the clients that stay
complete and its own, memory flat), a render skipped when its client has gone, a model folder damaged while the
server runs or failing to load at start, and garbage or oversize MIDI / path uploads (each a 4xx with a message).
The full-size run (50 clients x 8 voices x 10 s) is benchmarks/serve_faults.py -> docs/benchmarks/serve_faults.md.
"""

import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentsynth.cli import app as cli
from latentsynth.serve import background_server, create_app
from latentsynth.synth import Synth

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "sol" / "harmonic-ae"
BLOCK = 0.5  # seconds, as the page asks while a note is held


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, body: bytes | dict, ctype: str = "application/json") -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data, {"content-type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def declared(url: str, path: str, ctype: str, length: int, head: bytes) -> tuple[int, str]:
    """Announce a body of ``length`` bytes, send its first bytes ``head`` and read the answer (a server refuses an
    oversize body before it arrives, so a client that sends it all sees its connection reset)."""
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n"
                  "Connection: close\r\n\r\n".encode() + head)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                data.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])["detail"]


def drop(url: str, body: dict, wait: float = 0.0) -> None:
    """Send a decode request and close the connection before the answer."""
    host, port = url.split("//")[1].rsplit(":", 1)
    data = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST /api/models/h/decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        time.sleep(wait)


LONG = {"codes": [[0.0] * 16] * 2, "duration": 30, "pitch": 60, "instrument": "Fl", "format": "f32"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = shutil.copytree(REFERENCE, tmp_path_factory.mktemp("faults") / "h")
    application = create_app([folder])
    with background_server(application) as url:
        yield folder, application, url


def settle(renders, quiet: float = 1.0, limit: float = 120.0) -> None:
    """Wait until no request is queued or rendering for ``quiet`` seconds: a connection dropped by a client
    thread that has finished can still be waiting for a slot or rendering (30 s of audio) on the server, and the
    memory or skip counts read before it ends would count it (CI saw +159 MB and one skip too many)."""
    deadline, idle_since = time.time() + limit, None
    while time.time() < deadline:
        if renders.pending:
            idle_since = None
        elif idle_since is None:
            idle_since = time.time()
        elif time.time() - idle_since >= quiet:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server still had {renders.pending} requests in flight after {limit} s")


def block(url: str, code: list[float], pitch: float, phase: str | None) -> tuple[int, dict, np.ndarray]:
    body = {"codes": [code], "duration": BLOCK, "phase_at": BLOCK - 0.005, "pitch": pitch, "instrument": "Fl",
            "format": "f32", **({"phase": float(phase)} if phase is not None else {})}
    status, headers, data = post(f"{url}/api/models/h/decode", body)
    return status, headers, np.frombuffer(data, "<f4") if status == 200 else np.zeros(0, "<f4")


def test_fifty_clients_holding_voices_while_others_drop_and_send_garbage(server):
    folder, application, url = server
    synth = Synth.load(folder)
    z = synth.codes.codes[0]
    n = int(np.ceil(BLOCK / synth.hop_seconds))
    clients, voices, blocks = 50, 2, 2  # bounded here; the full 50 x 8 x 10 s run is the benchmark's
    pitches = [48 + (v * 5 + c) % 24 for c in range(clients) for v in range(voices)]
    first = {p: synth.render(z.expand(n, -1), synth.labels(n, p, "Fl")) for p in set(pitches)}

    def load() -> tuple[dict, dict]:
        results: dict[int, list] = {}
        stop, garbage_status = threading.Event(), []

        def voice(i):  # one held note: blocks in a row, each continuing the last one's phase
            out, phase = [], None
            for _ in range(blocks):
                try:
                    status, headers, y = block(url, z.tolist(), pitches[i], phase)
                except Exception as err:  # noqa: BLE001 - a lost block, reported below
                    out.append(err)
                    continue
                phase = headers.get("x-phase")
                out.append((status, headers, y))
            results[i] = out

        def dropper():
            while not stop.is_set():
                drop(url, LONG, 0.02)
                time.sleep(0.1)

        def garbage():
            bodies = [b"[" * 50000 + b"]" * 50000, os.urandom(2048), b'{"codes": [[1e999]]}',
                      b"MThd\x00\x00\x00\x06" + os.urandom(64)]
            while not stop.is_set():
                for body in bodies:
                    garbage_status.append(post(f"{url}/api/models/h/decode", body)[0])

        extra = [threading.Thread(target=dropper) for _ in range(3)] + [threading.Thread(target=garbage)]
        threads = [threading.Thread(target=voice, args=(i,)) for i in range(clients * voices)]
        for t in extra + threads:
            t.start()
        for t in threads:
            t.join(300)
        stop.set()
        for t in extra:
            t.join(60)
        return results, {"garbage": garbage_status}

    results, other = load()
    settle(application.state.renders)
    rss_after_first = rss_mb()
    assert len(results) == clients * voices
    for i, out in results.items():
        assert len(out) == blocks, i
        for k, res in enumerate(out):
            assert not isinstance(res, Exception), (i, k, res)
            status, headers, y = res
            assert status == 200 and len(y) == int(headers["x-samples"]) and np.isfinite(y).all(), (i, k, status)
        # each first block is its own voice's audio (its pitch), not a neighbour's: a direct render of the same
        assert np.abs(out[0][2] - first[pitches[i]]).max() < 1e-4, i
    assert other["garbage"] and all(400 <= s < 500 for s in other["garbage"]), set(other["garbage"])
    rss = [rss_after_first]
    for _ in range(2):  # the same load twice more: the memory stays where the first round left it
        results, other = load()
        settle(application.state.renders)
        rss.append(rss_mb())
        assert all(r[0] == 200 for out in results.values() for r in out)
    # measured on the 2-core machine, each round settled: the RSS wanders by up to ~160 MB between rounds, up and
    # down (allocator arenas of ~100 client and pool threads in this one process), and does not climb; before long
    # renders gave their memory back and renders were limited to one per core it grew by +500 MB every round.
    # Two more rounds: a leak of 150 MB a round or more fails, the wander does not.
    print(f"RSS after rounds 1-3: {', '.join(f'{r:.0f}' for r in rss)} MB")
    assert rss[-1] - rss[0] < 300, rss


def test_release_memory_gives_back_what_a_threads_arena_kept():
    """The mechanism the load test above is too small to tell apart from allocator wander (measured: without it
    and without the slot limit, +100 MB a round there): 2,000 blocks of 100 kB (below glibc's mmap threshold, so
    from the thread's own arena) freed but the last, which pins the arena's top; free() alone gives back nothing,
    ``release_memory`` gives back the pages in between."""
    from latentsynth.serve.app import release_memory

    n, size, seen = 2000, 100_000, {}

    def work():
        blocks = [np.ones(size // 8) for _ in range(n)]
        last = blocks[-1]
        del blocks
        seen["freed"] = rss_mb()
        release_memory()
        seen["trimmed"] = rss_mb()
        seen["last"] = last

    before = rss_mb()
    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    allocated = n * size / 2**20  # 191 MB
    assert seen["freed"] - before > 0.7 * allocated, (before, seen["freed"])  # the arena kept it
    assert seen["freed"] - seen["trimmed"] > 0.7 * allocated, (seen["freed"], seen["trimmed"])


def test_a_render_longer_than_the_threshold_releases_memory(server, monkeypatch):
    from latentsynth.serve import app as serve_app

    calls = []
    monkeypatch.setattr(serve_app, "release_memory", lambda: calls.append(1))
    _, application, url = server
    settle(application.state.renders)
    monkeypatch.setattr(serve_app, "LONG_RENDER_S", 1e9)
    status, _, y = block(url, [0.0] * 16, 60.0, None)
    assert status == 200 and len(y) > 0 and not calls
    monkeypatch.setattr(serve_app, "LONG_RENDER_S", 0.0)
    status, _, y = block(url, [0.0] * 16, 60.0, None)
    assert status == 200 and len(y) > 0 and calls == [1]


def test_a_client_that_left_before_its_render_costs_nothing(server):
    _, application, url = server
    renders = application.state.renders
    settle(renders)  # nothing left over from an earlier test's dropped connections
    skipped = renders.skipped
    for _ in range(renders.n):  # every render slot busy, as under load
        renders.slots.acquire()
    try:
        for _ in range(3):
            drop(url, LONG)  # queued behind the busy slots, then gone
        time.sleep(1.0)
    finally:
        for _ in range(renders.n):
            renders.slots.release()
    deadline = time.time() + 30
    while renders.skipped < skipped + 3 and time.time() < deadline:
        time.sleep(0.05)
    assert renders.skipped == skipped + 3
    status, _, y = block(url, [0.0] * 16, 60.0, None)
    assert status == 200 and len(y) > 0


def test_a_model_folder_damaged_while_serving_and_one_that_fails_at_start(server, tmp_path, monkeypatch):
    folder, _, url = server
    damaged = shutil.copytree(folder, tmp_path / "damaged")
    (damaged / "model.safetensors").write_bytes(b"not weights" * 10)
    # the running server holds its models in memory: damage to the folder changes nothing it answers
    saved = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(b"oops")
    (folder / "codes.safetensors").unlink()
    try:
        status, _, y = block(url, [0.0] * 16, 60.0, None)
        assert status == 200 and len(y) > 0
        assert post(f"{url}/api/models/h/plane", {})[0] == 200
    finally:
        (folder / "model.safetensors").write_bytes(saved)
    # a folder that fails to load at start: one error naming it, before any address is printed
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda *a, **k: pytest.fail("the server started"))
    res = CliRunner().invoke(cli, ["serve", str(REFERENCE), str(damaged), "--port", "0"])
    assert res.exit_code == 2 and "open http" not in res.stdout, res.output
    assert f"{damaged / 'model.safetensors'}: not a readable safetensors file" in " ".join(res.stderr.split())


def test_garbage_and_oversize_midi_and_path_uploads_are_4xx(server):
    _, application, url = server
    before = rss_mb()
    midi = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"

    def upload(name: str, payload: bytes) -> tuple[int, str]:
        b = "latentsynth-test"
        body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{b}--\r\n".encode()
        status, _, data = post(f"{url}/api/models/h/encode", body, f"multipart/form-data; boundary={b}")
        return status, json.loads(data)["detail"]

    b = "latentsynth-test"
    cases = [
        (upload("song.mid", midi), 400, "file: song.mid: unreadable or not an audio file"),
        (declared(url, "/api/models/h/encode", f"multipart/form-data; boundary={b}", 6 * 1024 * 1024,
                  f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mid\"\r\n\r\n".encode()
                  + midi), 413, "request body over the limit"),
        (upload("noise.wav", os.urandom(100_000)), 400, "unreadable or not an audio file"),
    ]
    long_path = {"latent_dim": 16, "codes": [[0.123456789] * 16] * 20_001}
    big_path = json.dumps({"kind": "lerp", "paths": [long_path, long_path]})
    assert len(big_path) > 5 * 1024 * 1024
    cases.append((declared(url, "/api/models/h/path", "application/json", len(big_path), big_path[:1000].encode()),
                  413, "request body over the limit"))
    for body, status, match in [
        ({"kind": "lerp", "paths": [{"latent_dim": 16, "codes": [[0.0] * 15]}] * 2}, 422, "point 0 has 15 values"),
        ({"kind": "circle", "paths": [{"x": 1}]}, 422, "paths.0.latent_dim: Field required"),
        ({"kind": "lerp", "paths": [{"latent_dim": 16, "codes": [[0.0] * 16]}] * 9}, 422, "paths"),
    ]:
        s, _, data = post(f"{url}/api/models/h/path", body)
        cases.append(((s, json.loads(data)["detail"]), status, match))
    s, _, data = post(f"{url}/api/models/h/path", b"[" * 100_000 + b"]" * 100_000)
    cases.append(((s, json.loads(data)["detail"]), 400, ""))
    for (status, detail), want, match in cases:
        assert status == want and match in detail, (status, detail, want, match)
    assert rss_mb() - before < 100  # refused before anything large was built
    status, _, y = block(url, [0.0] * 16, 60.0, None)  # and the instrument plays on
    assert status == 200 and len(y) > 0 and torch.isfinite(torch.from_numpy(y.copy())).all()
