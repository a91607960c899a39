"""Config files: a shipped name or a YAML path, the `base:` each names, and what is relative to the file.

seqattnet.config merges and checks what these read. Rules, for every file a config is read from:
- a key given twice in one mapping is refused (a YAML reader keeps only the last);
- `base: NAME` (a shipped config) or `base: PATH` (relative to this file's folder) is read first, and
  this file's keys replace its keys one by one (config.load_config);
- a relative `data.root` is relative to the file's folder, except in the shipped configs, whose roots
  (`data/activitynet`, `runs/demo/data`) are meant relative to the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import InputError, brief, quoted

CONFIG_DIR = Path(__file__).parent / "configs"


def shipped_configs() -> list[str]:
    """The names of the configs shipped in the package (its configs folder)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_path(name_or_path: str | Path, folder: Path | None = None) -> Path:
    """A shipped config's file, or `name_or_path` (relative to `folder` when given); InputError if missing."""
    path = Path(name_or_path)
    if not path.suffix and (CONFIG_DIR / f"{path}.yaml").exists():
        return CONFIG_DIR / f"{path}.yaml"
    if folder is not None and not path.is_absolute():
        path = folder / path
    if not path.exists():
        raise InputError.at(path, f"no such config file; shipped configs: {', '.join(shipped_configs())}")
    if path.is_dir():
        raise InputError.at(path, "is a folder; expected a YAML config file or a shipped config name")
    return path


def is_shipped(path: Path) -> bool:
    return path.resolve().parent == CONFIG_DIR.resolve()


def config_chain(name_or_path: str | Path) -> list[tuple[dict, str]]:
    """(raw mapping, file) of the config and of every base it extends, the furthest base first; `base:`
    removed, a relative data.root made absolute against its file's folder (shipped configs' kept)."""
    chain: list[tuple[dict, Path]] = []
    path: Path | None = config_path(name_or_path)
    while path is not None:
        raw = read_yaml(path)
        base = raw.pop("base", None)
        _root_beside(raw, path)
        chain.append((raw, path))
        path = None if base is None else _base_path(base, path, [p for _, p in chain])
    return [(raw, str(path)) for raw, path in reversed(chain)]


def _base_path(base: object, path: Path, seen: list[Path]) -> Path:
    """The file `base:` names in `path`; refused when it is no file name or leads back to a file of `seen`."""
    if not isinstance(base, str) or not base.strip():
        raise InputError.at(path, f"'base' must be a shipped config name ({', '.join(shipped_configs())}) or a YAML "
                            f"path relative to this file, got {quoted(base)}")
    found = config_path(base.strip(), path.parent)
    if any(found.resolve() == p.resolve() for p in seen):
        cycle = " -> ".join(str(p) for p in [*seen, found])
        raise InputError.at(path, f"'base: {base}' makes a cycle ({cycle}); a config cannot extend itself")
    return found


def _root_beside(raw: dict, path: Path) -> None:
    data = raw.get("data")
    if is_shipped(path) or not isinstance(data, dict):
        return
    root = data.get("root")
    if isinstance(root, str) and root and not Path(root).is_absolute():
        data["root"] = os.path.normpath(path.parent.absolute() / root)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's reader, except that a key given twice in one mapping raises _DuplicateKey."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may repeat; its keys are meant to be replaced
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
            except TypeError:  # an unhashable key: the reader's own check names it
                continue
            if twice:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep)


class _DuplicateKey(ValueError):
    pass


def read_yaml(path: Path) -> dict:
    """A config file's mapping ({} when empty); InputError on bad YAML, a key given twice, or no mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.load(f, Loader=_UniqueKeyLoader) or {}
    except _DuplicateKey as e:
        key, line = e.args
        raise InputError.at(path, f"key {quoted(key, 60)} appears twice in one mapping (line {line}; a YAML reader keeps only "
                            "the last); remove or rename one") from None
    except yaml.YAMLError as e:
        raise InputError.at(path, f"not valid YAML: {e}".replace("\n", " ")) from None
    except (ValueError, RecursionError) as e:  # a number of over 4,300 digits; nesting too deep
        raise InputError.at(path, f"not valid YAML ({brief(e)})") from None
    if not isinstance(raw, dict):
        raise InputError.at(path, "expected a mapping of sections (model, data, train, ...)")
    return raw
