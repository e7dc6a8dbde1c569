# Two commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
# Real MNIST / Fashion-MNIST IDX files; override with `make demo LATENTSYNTH_DATA=/path`.
LATENTSYNTH_DATA ?= $(abspath ../shared/data)
export LATENTSYNTH_DATA
RUNS   ?= runs/demo

.PHONY: install sysdeps test demo lint bench-epoch bench-peer bench-audio clean

# System libraries for audio: FluidSynth (SoundFont rendering) and the FluidR3 General MIDI SoundFont;
# Chromium for the browser test of the instrument.
# Installed with apt-get when running as root; otherwise the hint is printed and the Python code
# raises a clear error when it needs them.
sysdeps:
	@if ldconfig -p 2>/dev/null | grep -q libfluidsynth.so.3 && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing libfluidsynth3 fluid-soundfont-gm (apt-get)"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 fluid-soundfont-gm >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 fluid-soundfont-gm >/dev/null)) \
	  || echo "warning: apt-get could not install libfluidsynth3 fluid-soundfont-gm"; \
	else echo "note: audio rendering needs: sudo apt-get install libfluidsynth3 fluid-soundfont-gm"; fi
	@# Chromium for the instrument's browser test (tests/test_browser.py skips without /usr/bin/chromium)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium (apt-get)"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) \
	  || echo "warning: apt-get could not install chromium"; \
	else echo "note: the browser test needs: sudo apt-get install chromium"; fi

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the constraints file pins torch==2.13.0 so that no dependency can pull another (CUDA) build
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) sysdeps

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

# The main job: the mnist-quick sweep (AE, VAE, beta-VAE, WAE-MMD, WAE-GAN on MNIST, about 7 CPU minutes,
# plus about 2.5 minutes the first time to train the MNIST domain classifier of the generation scores).
# Prints the test metrics; each run folder $(RUNS)/mnist-quick/runs/<model>-s0/ gets the saved model,
# samples.png, reconstructions.png and curves.png; summary.md / summary.html / results.csv sit beside them.
# Then the audio part: the sol-quick sweep (a timbre WAE-MMD, conditioned on the pitch alone so the codes carry the
# instrument and dynamics (issue #22), and the
# Exercise 3 MLP VAE, on STFT frames of a small FluidR3 corpus that is rendered first, about 4 CPU minutes),
# original / reconstructed / Griffin-Lim-only WAVs of 3 test notes in $(RUNS)/sol-quick/runs/timbre-wae-mmd-s0/audio/,
# and a synthesis gallery (every path generator's WAV and figure, one HTML page) in $(RUNS)/gallery/.
# Interrupted? Run it again: finished runs are skipped, an unfinished one resumes from its checkpoint.
demo: install
	$(BIN)/latentsynth bench mnist-quick --out $(RUNS)
	$(BIN)/latentsynth bench sol-quick --out $(RUNS) data.corpus=$(RUNS)/audio-corpus
	$(BIN)/latentsynth audio reconstruct $(RUNS)/sol-quick/runs/timbre-wae-mmd-s0 --notes 3
	$(BIN)/latentsynth synth gallery $(RUNS)/sol-quick/runs/timbre-wae-mmd-s0 --out $(RUNS)/gallery

bench-epoch: install
	$(BIN)/python benchmarks/epoch_time.py

# Griffin-Lim (torch vs librosa) and corpus build throughput; write docs/benchmarks/.
bench-audio: install
	$(BIN)/python benchmarks/griffinlim.py
	$(BIN)/python benchmarks/corpus_build.py

# Peer check against pythae (installed into .venv for this benchmark only; torch stays pinned).
bench-peer: install
	$(BIN)/python -m pip install -q -c requirements/constraints.txt pythae imageio
	$(BIN)/python benchmarks/peer_pythae.py --seeds 0 1 2

clean:
	rm -rf $(VENV) runs
