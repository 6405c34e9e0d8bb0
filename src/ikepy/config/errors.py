"""Problems found while loading a configuration.

Every problem names the file, the line and the dotted key path it is about,
so that ``str(problem)`` reads like a compiler message::

    swanctl.conf:12: connections.net.proposals: unknown algorithm 'aes999' (allowed: ...)

Errors are collected, never raised one by one: :class:`ConfigError` carries
all of them, and nothing is half-loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One error or warning, located in a file."""

    file: str
    line: int  # 1-based; 0 when no line applies (e.g. the file itself)
    key_path: str  # dotted, e.g. "connections.net.children.net.esp_proposals"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """A configuration could not be loaded; ``problems`` lists every error."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
