# Two commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
# Real MNIST / Fashion-MNIST IDX files; override with `make demo LATENTSYNTH_DATA=/path`.
LATENTSYNTH_DATA ?= $(abspath ../shared/data)
export LATENTSYNTH_DATA
RUNS   ?= runs/demo

.PHONY: install sysdeps test demo lint bench-epoch clean

# System libraries for audio: FluidSynth (SoundFont rendering) and the FluidR3 General MIDI SoundFont.
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

# Trains a VAE and a WAE-MMD on MNIST (a few CPU minutes), prints their test metrics,
# writes prior-sample and reconstruction grids into $(RUNS)/<model>/.
demo: install
	$(BIN)/latentsynth train mnist-vae --out $(RUNS) train.max_epochs=5
	$(BIN)/latentsynth train mnist-wae-mmd-imq --out $(RUNS) train.max_epochs=5
	$(BIN)/latentsynth sample $(RUNS)/mnist-vae
	$(BIN)/latentsynth sample $(RUNS)/mnist-wae-mmd-imq
	$(BIN)/latentsynth compare $(RUNS)/mnist-vae $(RUNS)/mnist-wae-mmd-imq

bench-epoch: install
	$(BIN)/python benchmarks/epoch_time.py

clean:
	rm -rf $(VENV) runs
