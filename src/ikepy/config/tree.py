"""The neutral settings tree both syntaxes are read into.

A :class:`Section` holds ``key = value`` settings and subsections, each
remembering the file and line it came from. Sections written more than once
are merged (later keys win), as in strongSwan's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Setting:
    key: str
    value: str
    file: str
    line: int


@dataclass(slots=True)
class Section:
    name: str
    path: str  # dotted path from the root, "" for the root
    file: str
    line: int
    settings: dict[str, Setting] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)

    def subsection(self, name: str, file: str, line: int) -> Section:
        """The named subsection, created on first use (merged otherwise)."""
        sub = self.sections.get(name)
        if sub is None:
            path = f"{self.path}.{name}" if self.path else name
            sub = Section(name, path, file, line)
            self.sections[name] = sub
        return sub

    def put(self, key: str, value: str, file: str, line: int) -> None:
        self.settings.pop(key, None)  # re-insert: order follows the last write
        self.settings[key] = Setting(key, value, file, line)

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def files(self) -> set[str]:
        """Every file that contributed a setting to this subtree."""
        out = {s.file for s in self.settings.values()}
        for sub in self.sections.values():
            out |= sub.files()
        return out
