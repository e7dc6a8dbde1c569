"""What every command shares: the error guard and the ``--threads`` option."""

from __future__ import annotations

import contextlib
import errno
import signal

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


@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM raises ``KeyboardInterrupt`` (like Ctrl-C) inside the block, so a stopped run says how to go on;
    the SIGINT and SIGTERM handlers are restored after it (Lightning leaves SIGINT ignored after a Ctrl-C)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals cannot be handled here
        saved = {}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def guarded(fn, *args, **kwargs):
    """Run ``fn``; a known error (bad config or value, missing or corrupt data or model files) -> ``error: ...``
    and exit 2, a non-finite training loss -> exit 3, an interrupted run (Ctrl-C, SIGTERM) -> exit 130. Anything
    else is a bug and keeps its traceback."""
    from pydantic import ValidationError

    from ..config import ConfigError, format_validation_error
    from ..data.errors import DataError
    from ..training.fit import TrainingInterrupted
    from ..training.module import NonFiniteLossError

    try:
        return fn(*args, **kwargs)
    except NonFiniteLossError as err:
        fail(err, 3)
    except TrainingInterrupted as err:
        fail(err, 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except ValidationError as err:
        fail(format_validation_error(err))
    except (ConfigError, DataError, FileNotFoundError, ValueError) as err:
        fail(err, 2)
    except OSError as err:  # a folder that cannot be written (permissions, read-only or full disk)
        from ..folders import NotWritableError

        if not (isinstance(err, PermissionError | NotWritableError) or err.errno in WRITE_ERRNOS):
            raise
        fail(os_error_message(err), 2)


WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def os_error_message(err: OSError) -> str:
    """One line for an ``OSError`` of the file system: the path, the reason and what to do (the message of
    :func:`latentsynth.folders.not_writable`, the one wording of it)."""
    from ..folders import NotWritableError, not_writable

    if isinstance(err, NotWritableError) or not err.filename:
        return str(err)
    return str(not_writable(err.filename, err))
