"""The one error of bad data files and folders (IDX sets, audio corpora, frame caches)."""

from __future__ import annotations


class DataError(RuntimeError):
    """A data file is missing, corrupt or not what was expected; the message names the file or folder."""
