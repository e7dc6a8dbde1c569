"""Run-folder claims: two processes (two shards, a re-run, Ray tasks on several hosts) never train one run at once.

A process that is about to train a run creates ``runs/<run>/claim.json`` atomically (``O_CREAT | O_EXCL``: only
one creator wins, also on a shared file system) with its host, pid and the time, and keeps the file's mtime fresh
(a heartbeat thread) while it trains. A claim whose heartbeat is older than ``stale_after`` seconds, or whose pid
is dead on this very host, belongs to a killed process: the next claimant takes it over. Finished runs are never
claimed (the caller checks :func:`~latentsynth.bench.runner.is_finished` after winning the claim).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

CLAIM = "claim.json"
STALE_AFTER = float(os.environ.get("LATENTSYNTH_CLAIM_STALE_S", 600))  # s without heartbeat: the holder is gone
HEARTBEAT = 30.0  # s between heartbeats (well under STALE_AFTER)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    try:  # a zombie (killed child not yet reaped) holds nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_claim(run_dir: Path) -> dict | None:
    """The claim of ``run_dir`` (host, pid, time, and ``heartbeat``: the file's mtime), or None."""
    f = Path(run_dir) / CLAIM
    try:
        info = json.loads(f.read_text() or "{}")
        info["heartbeat"] = f.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        info = {"heartbeat": f.stat().st_mtime if f.exists() else 0.0}  # half-written: judged by its age
    return info


def is_stale(info: dict, stale_after: float = STALE_AFTER, now: float | None = None) -> bool:
    """A claim's holder is gone: its heartbeat is older than ``stale_after`` s, or its pid is dead on this host."""
    now = time.time() if now is None else now
    if now - float(info.get("heartbeat", 0.0)) > stale_after:
        return True
    return info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) and not _alive(info["pid"])


def _read_aside(f: Path) -> dict:
    try:
        return json.loads(f.read_text() or "{}")
    except (OSError, ValueError):
        return {}


class Claim:
    """A held claim on a run folder; :meth:`release` (or the context exit) removes it and stops the heartbeat."""

    def __init__(self, run_dir: Path, heartbeat: float = HEARTBEAT):
        self.path = Path(run_dir) / CLAIM
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(run_dir: str | Path, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT) -> Claim | None:
    """Claim ``run_dir`` for this process: a :class:`Claim`, or None when a live process holds it. A stale claim
    (see :func:`is_stale`) is taken over: moved aside under a name of this process (atomic rename: of two
    claimants only one moves it), then created afresh."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    f = run_dir / CLAIM
    body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}).encode()
    for _ in range(3):
        try:
            fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = read_claim(run_dir)
            if info is None:
                continue  # released meanwhile: try again
            if not is_stale(info, stale_after):
                return None
            aside = run_dir / f"{CLAIM}.stale-{socket.gethostname()}-{os.getpid()}"
            try:
                os.rename(f, aside)
            except FileNotFoundError:
                continue  # another claimant moved it first
            moved = _read_aside(aside)
            if moved.get("pid") != info.get("pid") or moved.get("time") != info.get("time"):
                try:  # it was a fresh claim of a faster claimant (created after our read): put it back
                    os.link(aside, f)
                except OSError:
                    pass
            aside.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        return Claim(run_dir, heartbeat)
    return None
