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
        from ..serve.app import bind

        sock = bind(host, port)  # before anything is said: a taken port is one clear error, not a traceback
        try:
            application = create_app(models)
            names = ", ".join(application.state.instruments)
            bound = sock.getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            typer.echo(f"latentsynth instrument ({names}; {n} torch thread{'s' if n > 1 else ''}): "
                       f"open http://{shown}:{bound}/  (Ctrl-C stops)")
            uvicorn.Server(uvicorn.Config(application, log_level="warning")).run(sockets=[sock])
        finally:
            sock.close()

    guarded(go)
