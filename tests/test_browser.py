"""The instrument's page in a real browser (Playwright driving Debian's /usr/bin/chromium, headless): it loads,
the pad plays held blocks, keys send pitches, a drawn path plays and exports a WAV of its duration, a generator
path is drawn and played; a screenshot (docs/instrument.png when run on a real model). Skipped without
chromium (`make sysdeps` installs it).

``LATENTSYNTH_SERVE_MODEL=<model folder>`` runs it on that model instead of the tiny one trained here (the
committed screenshot comes from runs/exp/h-vae)."""

import os
import time
import wave
from pathlib import Path

import pytest

from latentsynth.serve import background_server, create_app

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--autoplay-policy=no-user-gesture-required"]

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (Debian package chromium; `make sysdeps` installs it as root)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = os.environ.get("LATENTSYNTH_SERVE_MODEL")
    if not folder:
        from test_serve import tiny_model

        folder = tiny_model(tmp_path_factory.mktemp("browser"))
    application = create_app([folder])
    with background_server(application) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        pg = browser.new_page(viewport={"width": 1150, "height": 830}, accept_downloads=True)
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        pg.goto(url + "/?engine=blocks")  # the server-rendered blocks (Griffin-Lim models); the worklet: test_worklet
        pg.wait_for_function("window.__ls && window.__ls.ready", timeout=30_000)
        playable = time.perf_counter() - t0
        print(f"\npage playable {playable * 1000:.0f} ms after navigation (page's own clock: "
              f"{pg.evaluate('__ls.readyMs'):.0f} ms)")
        pg.playable_s = playable
        yield pg
        assert not errors, errors
        browser.close()


def ls(page) -> dict:
    return page.evaluate("({...window.__ls})")


def pad_box(page):
    return page.locator("#pad").bounding_box()


def empty_spot(page) -> tuple[float, float]:
    """A pad position (page pixels) with no note dot near it: clicking there plays, not a dot."""
    xy = page.evaluate("""() => {
        const c = document.getElementById('pad'), g = c.getContext('2d');
        for (let y = 40; y < c.height - 40; y += 20) for (let x = 40; x < c.width - 40; x += 20) {
          let ok = true;
          for (const [a, b] of window.__dots()) if ((a - x) ** 2 + (b - y) ** 2 < 400) { ok = false; break; }
          if (ok) return [x, y];
        }
        return [20, 20];
    }""")
    box = pad_box(page)
    return box["x"] + xy[0] * box["width"] / 560, box["y"] + xy[1] * box["height"] / 560


def test_page_loads_and_the_pad_plays_held_blocks(page):
    assert page.title().startswith("latentsynth")
    assert page.locator("#pad").is_visible() and page.locator("#sliders input").count() >= 1
    before = ls(page)
    x, y = empty_spot(page)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(12):  # a drag while the note sounds: the timbre follows
        page.mouse.move(x + 4 * i, y + 2 * i)
        page.wait_for_timeout(100)
    page.mouse.up()
    page.wait_for_timeout(300)
    after = ls(page)
    assert after["blocksReceived"] - before["blocksReceived"] >= 2  # held for 1.2 s: more than one 0.5 s block
    assert after["blocksScheduled"] - before["blocksScheduled"] >= 2
    assert after["lastLatencyMs"] > 0 and after["errors"] == 0
    print(f"pad: {after['blocksReceived'] - before['blocksReceived']} blocks, latency "
          f"{after['lastLatencyMs']:.0f} ms (server render {after['lastRenderMs']:.1f} ms)")
    assert "latency" in page.locator("#latency").inner_text() and "ms" in page.locator("#latency").inner_text()


def test_keys_send_their_pitch(page):
    page.locator("#pad").focus()
    page.keyboard.down("a")
    page.wait_for_timeout(250)
    page.keyboard.up("a")
    c = ls(page)["lastPitch"]
    assert c % 12 == 0  # A is a C
    page.keyboard.down("k")
    page.wait_for_timeout(250)
    page.keyboard.up("k")
    assert ls(page)["lastPitch"] == c + 12  # K is the C above
    page.keyboard.press("x")  # octave up
    page.keyboard.down("e")
    page.wait_for_timeout(250)
    page.keyboard.up("e")
    assert ls(page)["lastPitch"] == c + 12 + 3  # E is the black key D#
    n = ls(page)["blocksScheduled"]
    page.locator("#keyboard .key").nth(2).dispatch_event("pointerdown")  # the on-screen keyboard
    page.wait_for_timeout(300)
    page.locator("#keyboard .key").nth(2).dispatch_event("pointerup")
    page.wait_for_timeout(100)
    assert ls(page)["blocksScheduled"] > n and ls(page)["errors"] == 0


def test_a_drawn_path_plays_and_exports_a_wav_of_its_duration(page, tmp_path):
    page.locator("#clear-rec").click()
    page.locator("input[name=mode][value=draw]").check()
    box = pad_box(page)
    page.mouse.move(box["x"] + 100, box["y"] + 300)
    page.mouse.down()
    for i in range(20):
        page.mouse.move(box["x"] + 100 + 18 * i, box["y"] + 300 - 8 * i)
    page.mouse.up()
    assert ls(page)["pathPoints"] >= 10
    page.locator("#duration").fill("1.5")
    page.locator("#constant-speed").check()
    n = ls(page)["blocksScheduled"]
    page.locator("#play-path").click()
    page.wait_for_function(f"window.__ls.blocksScheduled > {n}", timeout=20_000)
    with page.expect_download() as dl:
        page.locator("#export").click()
    dst = tmp_path / "played.wav"
    dl.value.save_as(dst)
    with wave.open(str(dst)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
    exp = ls(page)["lastExport"]
    assert exp["seconds"] == pytest.approx(seconds, abs=1e-3)
    assert seconds == pytest.approx(1.5, abs=0.03)
    page.locator("input[name=mode][value=play]").check()


def test_a_generated_path_is_drawn_before_it_plays_and_the_screenshot(page, tmp_path):
    page.locator("#generator").select_option("circle")
    page.locator("#duration").fill("1")
    n = ls(page)["blocksScheduled"]
    page.locator("#generate").click()
    page.wait_for_function(f"window.__ls.blocksScheduled > {n}", timeout=20_000)
    assert ls(page)["pathPoints"] == pytest.approx(1 / page.evaluate("window.__hop()"), abs=2)
    page.locator("#heatmap").select_option("centroid")
    page.wait_for_function("document.getElementById('legend').textContent.includes('centroid')", timeout=20_000)
    page.locator("#color-by").select_option("instrument")
    page.wait_for_timeout(200)
    assert ls(page)["errors"] == 0, ls(page)["lastError"]
    # the README's screenshot is refreshed from a real model (LATENTSYNTH_SERVE_MODEL), not the tiny test one
    out = REPO / "docs" / "instrument.png" if os.environ.get("LATENTSYNTH_SERVE_MODEL") else tmp_path / "instrument.png"
    page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1150, "height": 830})
    assert out.stat().st_size > 10_000
