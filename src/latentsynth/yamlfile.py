"""The one YAML reader of configs and sweeps: safe, UTF-8, and strict about keys given twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML safe loader that rejects a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: construct_mapping reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (each key may appear once; remove one of them)",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, error: type[Exception] = ValueError) -> dict[str, Any]:
    """The mapping in the YAML file ``path``; any problem (not text, not YAML, a key twice, not a mapping) raises
    ``error`` with one message naming the file (and the line)."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (binary or not UTF-8), so not a YAML config; restore it or give "
                    "another file") from None
    except yaml.MarkedYAMLError as err:
        where = f", line {err.problem_mark.line + 1}" if err.problem_mark else ""
        raise error(f"{path}{where}: not valid YAML ({err.problem or err.context})") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of keys at the top level")
    return data
