"""The ``latentsynth`` command line: one typer ``app``, one module per verb group.

``models`` (train, eval, sample, card, compare, presets, config), ``bench``, ``explore`` (explore, classifier),
``audio`` (the ``latentsynth audio ...`` group). Shared by all: :func:`guarded` (one error guard: a known error
becomes ``error: ...`` and exit code 2, a non-finite loss exit code 3) and :data:`THREADS` / :func:`use_threads`
(the ``--threads`` option; one torch thread unless asked). A new group is one line in :data:`GROUPS`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from .common import THREADS, fail, guarded, use_threads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Regularized auto-encoders (AE, VAE, WAE) and latent audio synthesis.")

# (module, sub-command name or None): None adds the module's commands at the top level; a name mounts its
# ``app`` as a group (``latentsynth audio ...``). Later: ("serve", None).
GROUPS: list[tuple[str, str | None]] = [("models", None), ("bench", None), ("explore", None), ("audio", "audio"),
                                        ("synth", "synth"), ("serve", None)]


def mount(module: str, name: str | None = None) -> None:
    """Add the commands of ``latentsynth.cli.<module>`` (its typer ``app``) to the top-level app."""
    sub = importlib.import_module(f"{__name__}.{module}").app
    if name is None:
        for cmd in sub.registered_commands:
            app.registered_commands.append(cmd)
    else:
        app.add_typer(sub, name=name, help=sub.info.help)


for _module, _name in GROUPS:
    mount(_module, _name)


def main() -> None:
    app(prog_name="latentsynth")


__all__ = ["THREADS", "app", "fail", "guarded", "main", "mount", "use_threads"]

if __name__ == "__main__":
    sys.exit(main())
