"""Entry points: read a file (or text) in either syntax into a :class:`Config`."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .build import Problems, build_config
from .errors import ConfigError, ConfigProblem
from .model import Config
from .swanctl_syntax import SwanctlReader
from .toml_syntax import read_toml
from .tree import Section

log = logging.getLogger("ikepy.config")

Format = Literal["swanctl", "toml"]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    warnings: tuple[ConfigProblem, ...]


def _where(p: ConfigProblem) -> tuple[str, int]:
    return (p.file, p.line)


def _finish(root: Section, source: str, early: list[ConfigProblem],
            check_modes: bool) -> LoadedConfig:
    if early:  # the tree is partial: its meaning would only add noise
        raise ConfigError(early)
    p = Problems()
    config = build_config(root, source, p)
    if check_modes and "secrets" in root.sections:
        for f in sorted(root.sections["secrets"].files()):
            try:
                mode = os.stat(f).st_mode
            except OSError:
                continue
            if mode & (stat.S_IRGRP | stat.S_IROTH):
                p.warn(f, 0, "secrets",
                       f"holds secrets but is readable by other users "
                       f"(mode {stat.S_IMODE(mode):04o}); chmod 600")
    p.errors.sort(key=_where)
    p.warnings.sort(key=_where)
    if p.errors:
        raise ConfigError(p.errors)
    for w in p.warnings:
        log.warning("%s", w)
    return LoadedConfig(config, tuple(p.warnings))


def load_config_text(text: str, source_name: str = "<string>", fmt: Format = "swanctl") -> LoadedConfig:
    """Load configuration text; ``source_name`` names it in problems.

    Includes (swanctl syntax) are resolved relative to ``source_name``'s
    directory. Raises :class:`ConfigError` with every error found.
    """
    early: list[ConfigProblem] = []
    root = Section("", "", source_name, 0)
    if fmt == "toml":
        read_toml(text, source_name, root, early)
    elif fmt == "swanctl":
        SwanctlReader(early).read_text(text, source_name, root)
    else:
        raise ValueError(f"unknown config format {fmt!r} (allowed: swanctl, toml)")
    return _finish(root, source_name, early, check_modes=False)


def load_config(path: str | Path) -> LoadedConfig:
    """Load a file: ``.toml`` as native TOML, anything else as swanctl.conf syntax.

    Also warns when a file holding secrets is readable by group or others.
    """
    name = str(path)
    early: list[ConfigProblem] = []
    root = Section("", "", name, 0)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigProblem(name, 0, "", f"cannot read file: {e}")]) from None
    if name.endswith(".toml"):
        read_toml(text, name, root, early)
    else:
        SwanctlReader(early).read_text(text, name, root)
    return _finish(root, name, early, check_modes=True)
