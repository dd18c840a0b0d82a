"""Formula errors: compile errors carry position, line and column; runtime errors a message."""
from __future__ import annotations

from engine.errors import EngineError


class FormulaError(EngineError):
    """Base class of every formula error (``formula.E###``; the API's status table maps it)."""

    def __init__(self, message, *, code="formula.E000", position=None, line=None, column=None, hint=None,
                 caret=None):
        super().__init__(code, message, position=position, line=line, column=column, hint=hint)
        self.caret = caret      # the formula's line at fault and a ``^`` under the column (compile errors)


class FormulaSyntaxError(FormulaError):
    pass


class FormulaTypeError(FormulaError):
    pass


class FormulaRuntimeError(FormulaError):
    pass


class FormulaSQLUnsupported(FormulaError):
    """The formula is valid but has no SQL form (e.g. ISCHANGED, or a plugin function without SQL)."""


def located(cls, message, source, position, *, code, hint=None):
    """Build a compile error at ``position`` (0-based) of ``source`` with line and column."""
    position = max(0, min(position, len(source)))
    line = source.count("\n", 0, position) + 1
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    text = f"{message} (line {line}, column {column})"
    if hint:
        text += f". {hint}"
    return cls(text, code=code, position=position, line=line, column=column, hint=hint,
               caret=caret_line(source, line, column))


def caret_line(source, line, column):
    """The ``line``-th line of ``source`` (1-based) and under it a ``^`` at ``column`` (1-based);
    tabs are kept so the caret lines up in a terminal or a ``<pre>``."""
    lines = source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    pad = "".join(ch if ch == "\t" else " " for ch in text[:column - 1])
    return f"{text}\n{pad}^"
