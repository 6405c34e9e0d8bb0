"""Reader for strongSwan's settings syntax (swanctl.conf, strongswan.conf).

Follows libstrongswan's settings lexer/parser:

- ``name { ... }`` opens a section; sections may be written more than once
  and are merged;
- ``key = value``: an unquoted value runs to the end of the line, a ``#`` or
  a ``}``; blanks between its words collapse to one space (use quotes for
  more); ``"..."`` strings may span lines and know the escapes ``\\"``,
  ``\\\\``, ``\\n``, ``\\r``, ``\\t`` and backslash-newline (continuation);
- ``#`` starts a comment outside quotes;
- ``include pattern`` reads files matching a glob, relative to the directory
  of the including file, into the current section.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable

from .errors import ConfigProblem
from .tree import Section

_NAME_STOP = set('#{}="\n\t\r ')
_VALUE_STOP = set('#}"\n\t\r ')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "\n": ""}
MAX_INCLUDE_DEPTH = 10

ReadFile = Callable[[str], str]


class _SyntaxProblem(Exception):
    def __init__(self, line: int, path: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class SwanctlReader:
    """Parses one file (and its includes) into a :class:`Section` tree."""

    def __init__(self, problems: list[ConfigProblem], read_file: ReadFile = _read_text) -> None:
        self.problems = problems
        self.read_file = read_file
        self.files_read: list[str] = []

    def read_path(self, path: str, into: Section, depth: int = 0) -> None:
        try:
            text = self.read_file(path)
        except (OSError, UnicodeDecodeError) as e:
            self.problems.append(ConfigProblem(path, 0, into.path, f"cannot read file: {e}"))
            return
        self.read_text(text, path, into, depth)

    def read_text(self, text: str, file: str, into: Section, depth: int = 0) -> None:
        self.files_read.append(file)
        try:
            _Parser(self, text, file, depth).parse(into)
        except _SyntaxProblem as e:
            self.problems.append(ConfigProblem(file, e.line, e.path, e.message))

    def include(self, pattern: str, file: str, line: int, into: Section, depth: int) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            self.problems.append(
                ConfigProblem(file, line, into.path, f"include '{pattern}': nested too deeply "
                              f"(more than {MAX_INCLUDE_DEPTH} levels; an include loop?)"))
            return
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(file), pattern)
        if glob.has_magic(pattern):
            # strongSwan: a pattern matching nothing is fine; matches are sorted
            for match in sorted(glob.glob(pattern)):
                self.read_path(match, into, depth + 1)
        elif not os.path.exists(pattern):
            self.problems.append(
                ConfigProblem(file, line, into.path, f"include '{pattern}': no such file"))
        else:
            self.read_path(pattern, into, depth + 1)


class _Parser:
    def __init__(self, reader: SwanctlReader, text: str, file: str, depth: int) -> None:
        self.reader = reader
        self.text = text
        self.file = file
        self.depth = depth
        self.pos = 0
        self.line = 1

    # -- character helpers ----------------------------------------------------
    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _advance(self) -> str:
        c = self.text[self.pos]
        self.pos += 1
        if c == "\n":
            self.line += 1
        return c

    def _skip_blanks(self, newlines: bool) -> None:
        while True:
            c = self._peek()
            if c in (" ", "\t", "\r") or (newlines and c == "\n"):
                self._advance()
            elif newlines and c == "#":
                self._skip_comment()
            else:
                return

    def _skip_comment(self) -> None:
        while self._peek() not in ("", "\n"):
            self._advance()

    def _read_word(self, stop: set[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stop:
            self.pos += 1
        return self.text[start:self.pos]

    def _read_string(self, path: str) -> str:
        start_line = self.line
        self._advance()  # opening quote
        out: list[str] = []
        while True:
            c = self._peek()
            if c == "":
                raise _SyntaxProblem(start_line, path, "unterminated quoted string")
            self._advance()
            if c == '"':
                return "".join(out)
            if c == "\\":
                n = self._peek()
                if n in _ESCAPES:
                    self._advance()
                    out.append(_ESCAPES[n])
                else:
                    out.append("\\")
            else:
                out.append(c)

    # -- grammar --------------------------------------------------------------
    def parse(self, root: Section) -> None:
        self._statements(root, top=True)

    def _statements(self, section: Section, top: bool) -> None:
        open_line = self.line
        while True:
            self._skip_blanks(newlines=True)
            c = self._peek()
            if c == "":
                if not top:
                    raise _SyntaxProblem(open_line, section.path,
                                         "section is missing its closing '}'")
                return
            if c == "}":
                if top:
                    raise _SyntaxProblem(self.line, section.path, "unexpected '}'")
                self._advance()
                return
            if c in '{="':
                raise _SyntaxProblem(self.line, section.path,
                                     f"unexpected '{c}' (expected a key or a section name)")
            line = self.line
            name = self._read_word(_NAME_STOP)
            if name == "include" and self._peek() in (" ", "\t"):
                save_pos, save_line = self.pos, self.line
                self._skip_blanks(newlines=False)
                if self._peek() not in ("=", "{"):
                    self._include(section, line)
                    continue
                self.pos, self.line = save_pos, save_line
            self._skip_blanks(newlines=True)
            c = self._peek()
            if c == "=":
                self._advance()
                value = self._value(section.key_path(name))
                section.put(name, value, self.file, line)
            elif c == "{":
                if "." in name:
                    raise _SyntaxProblem(line, section.path,
                                         f"section name '{name}' must not contain '.'")
                self._advance()
                sub = section.subsection(name, self.file, line)
                self._statements(sub, top=False)
            elif c == ":":
                raise _SyntaxProblem(line, section.key_path(name),
                                     "section references/templates ('name : other') are not supported yet")
            else:
                raise _SyntaxProblem(line, section.key_path(name),
                                     f"expected '=' or '{{' after '{name}'")

    def _value(self, path: str) -> str:
        parts: list[str] = []
        while True:
            self._skip_blanks(newlines=False)
            c = self._peek()
            if c in ("", "\n"):
                if c:
                    self._advance()
                break
            if c in ("#", "}"):
                break
            if c == '"':
                parts.append(self._read_string(path))
            else:
                parts.append(self._read_word(_VALUE_STOP))
        return " ".join(parts)

    def _include(self, section: Section, line: int) -> None:
        if self._peek() == '"':
            pattern = self._read_string(section.path)
        else:
            pattern = self._read_word(set("#\n\r")).strip()
        self._skip_blanks(newlines=False)
        if self._peek() == "#":
            self._skip_comment()
        if not pattern:
            raise _SyntaxProblem(line, section.path, "include without a file pattern")
        self.reader.include(pattern, self.file, line, section, self.depth)
