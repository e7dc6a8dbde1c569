"""``latentsynth serve MODEL...``: the instrument in the browser (FastAPI + uvicorn, loopback by default)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import THREADS, guarded, use_threads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


@app.command()
def serve(
    models: list[Path] = typer.Argument(..., help="frame model folders (runs/<name> or models/sol/<name>)"),
    host: str = typer.Option("127.0.0.1", help="address to bind (127.0.0.1: this machine only)"),
    port: int = typer.Option(8765, min=0, max=65535, help="port (0: any free port)"),
    threads: int = THREADS,
) -> None:
    """Play models in the browser: an XY pad over the latent plane, keyboard / MIDI pitch, paths, heatmaps."""
    n = use_threads(threads)

    def go():
        import uvicorn

        from ..serve import create_app

        application = create_app(models)
        names = ", ".join(application.state.instruments)
        typer.echo(f"latentsynth instrument ({names}; {n} torch thread{'s' if n > 1 else ''}): "
                   f"open http://{host}:{port}/  (Ctrl-C stops)")
        uvicorn.run(application, host=host, port=port, log_level="warning")

    guarded(go)
