"""What every command shares: the error guard and the ``--threads`` option."""

from __future__ import annotations

import typer

from ..threads import set_threads

# ``threads: int = THREADS`` in a command's signature, then ``use_threads(threads)`` first thing in its body
THREADS = typer.Option(None, "--threads", min=1, envvar="LATENTSYNTH_THREADS",
                       help="torch threads (default 1: fastest on a shared CPU; env LATENTSYNTH_THREADS)")


def use_threads(threads: int | None) -> int:
    """Apply ``--threads`` (None: one thread); returns the count in use."""
    return set_threads(threads)


def fail(err: Exception | str, code: int = 2) -> None:
    """Print ``error: <err>`` on stderr and exit with ``code``."""
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code)


def guarded(fn, *args, **kwargs):
    """Run ``fn``; a known error (bad config or value, missing or corrupt data) -> ``error: ...`` and exit 2,
    a non-finite training loss -> exit 3. Anything else is a bug and keeps its traceback."""
    from pydantic import ValidationError

    from ..config import ConfigError, format_validation_error
    from ..data.idx import DataError
    from ..training.module import NonFiniteLossError

    try:
        return fn(*args, **kwargs)
    except NonFiniteLossError as err:
        fail(err, 3)
    except ValidationError as err:
        fail(format_validation_error(err))
    except (ConfigError, DataError, FileNotFoundError, ValueError) as err:
        fail(err, 2)
