"""Parse formula text into a small AST with positions (lark, LALR).

Every node keeps its 0-based ``pos`` so that type errors point at the culprit.
Lark's exceptions are turned into ``FormulaSyntaxError`` here, in plain words.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .errors import FormulaSyntaxError, located
from .limits import MAX_DEPTH, MAX_LENGTH, MAX_NODES


@dataclass
class Node:
    """An AST node: ``kind`` is one of number, string, bool, null, path, call, binop, unary."""

    kind: str
    pos: int
    value: object = None               # literal value, operator, function name or path tuple
    args: list = field(default_factory=list)
    type: str | None = None            # filled by the type checker
    extra: dict = field(default_factory=dict)


_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_COMMENT_OR_WS = re.compile(r"(\s|/\*([^*]|\*(?!/))*\*/)*")
# NUL cannot be stored or bound by PostgreSQL, and a lone surrogate is not encodable as UTF-8
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
_SPLIT_HINT = "Split it into several formula fields"


class _Source:
    """The text being parsed, and how many parts and how deep the tree built so far is."""

    def __init__(self, text):
        self.text = text
        self.count = 0
        self.depth = {}   # id(node) -> nesting depth; the nodes stay alive in the tree being built


_SOURCE = ContextVar("formula_source")


class _Build(Transformer):
    """Builds ``Node``s as the LALR parser reduces, so that the limits on parts and nesting stop a
    formula while it is being read (and no lark tree is built, nor walked recursively)."""

    @property
    def source(self):
        return _SOURCE.get().text

    def _made(self, node, children=()):
        src = _SOURCE.get()
        src.count += 1
        if src.count > MAX_NODES:
            raise located(FormulaSyntaxError, f"The formula has more than {MAX_NODES:,} parts (values, names, "
                          "operators and function calls)", src.text, node.pos, code="formula.E010",
                          hint=_SPLIT_HINT)
        depth = 1 + max((src.depth[id(c)] for c in children), default=0)
        if depth > MAX_DEPTH:
            raise located(FormulaSyntaxError, f"The formula is nested more than {MAX_DEPTH} levels deep",
                          src.text, node.pos, code="formula.E008",
                          hint="Use CASE() instead of nested IFs, or split it into several formula fields")
        src.depth[id(node)] = depth
        return node

    def number(self, items):
        tok = items[0]
        return self._made(Node("number", tok.start_pos, Decimal(str(tok))))

    def string(self, items):
        tok = items[0]
        body = str(tok)[1:-1]
        out, i = [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                nxt = body[i + 1] if i + 1 < len(body) else ""
                if nxt not in _ESCAPES:
                    raise located(FormulaSyntaxError, f"Unknown escape '\\{nxt}' in text; write '\\\\' for a "
                                  "backslash", self.source, tok.start_pos + 1 + i, code="formula.E004")
                out.append(_ESCAPES[nxt])
                i += 2
            else:
                out.append(ch)
                i += 1
        return self._made(Node("string", tok.start_pos, "".join(out)))

    def path(self, items):
        names = [str(t) for t in items]
        low = [n.lower() for n in names]
        if len(low) == 1 and low[0] in ("true", "false"):
            return self._made(Node("bool", items[0].start_pos, low[0] == "true"))
        if len(low) == 1 and low[0] == "null":
            return self._made(Node("null", items[0].start_pos, None))
        return self._made(Node("path", items[0].start_pos, tuple(low), extra={
            "spelled": ".".join(names), "positions": [t.start_pos for t in items]}))

    def call(self, items):
        name_tok = items[0]
        args = [a for a in items[2:] if not isinstance(a, Token)]
        return self._made(Node("call", name_tok.start_pos, str(name_tok).upper(), args,
                               extra={"spelled": str(name_tok)}), args)

    def binop(self, items):
        left, op, right = items
        sym = {"==": "=", "<>": "!="}.get(str(op), str(op))
        return self._made(Node("binop", op.start_pos, sym, [left, right]), (left, right))

    def unary(self, items):
        op, operand = items
        return self._made(Node("unary", op.start_pos, str(op), [operand]), (operand,))


@lru_cache(maxsize=1)
def _parser():
    grammar = resources.files("engine.formula").joinpath("grammar.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False, transformer=_Build())


_EXPECT_WORDS = {
    "NUMBER": "a number", "STRING": "a text", "NAME": "a name", "LPAR": "'('", "RPAR": "')'",
    "COMMA": "','", "OR": "'||'", "AND": "'&&'", "EQOP": "'='", "CMPOP": "a comparison", "AMP": "'&'",
    "ADDOP": "'+' or '-'", "MULOP": "'*' or '/'", "POW": "'^'", "UNOP": "a sign", "DOT": "'.'",
}


def _describe_expected(expected):
    words = sorted({_EXPECT_WORDS.get(e, e.lower()) for e in expected if not e.startswith("__")})
    value_like = {"a number", "a text", "a name", "'('", "a sign"}
    if value_like & set(words):
        return "a value (a number, a text, a field or a function call)"
    closers = [w for w in ("')'", "','") if w in words]
    return "an operator" + "".join(f" or {c}" for c in closers) + (
        "" if closers else " or the end of the formula")


def parse(source):
    """Parse formula text into a ``Node`` tree; raises ``FormulaSyntaxError``."""
    if not isinstance(source, str):
        raise FormulaSyntaxError("The formula must be text.", code="formula.E001", position=0, line=1, column=1)
    if len(source) > MAX_LENGTH:
        raise located(FormulaSyntaxError, f"The formula is {len(source):,} characters long; the limit is "
                      f"{MAX_LENGTH:,}", source, MAX_LENGTH, code="formula.E009", hint=_SPLIT_HINT)
    bad = _BAD_CHAR.search(source)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\x00" else "an invalid character (a lone surrogate)"
        raise located(FormulaSyntaxError, f"The formula contains {what}", source, bad.start(),
                      code="formula.E011", hint="Remove it")
    m = _COMMENT_OR_WS.fullmatch(source)
    if m is not None:
        raise located(FormulaSyntaxError, "The formula is empty", source, len(source), code="formula.E002",
                      hint="Write an expression such as amount * 2")
    return _copy(_parse_tree(source))


def _copy(node):
    """A fresh tree: the type checker and the code generators annotate the nodes they are given."""
    return Node(node.kind, node.pos, node.value, [_copy(a) for a in node.args], node.type, dict(node.extra))


@lru_cache(maxsize=4096)
def _parse_tree(source):
    """The tree of ``source`` as the parser builds it, kept per text: metadata checks, pack installs and
    snapshots compile the same formulas many times. A text that does not parse raises each time."""
    reading = _SOURCE.set(_Source(source))
    try:
        return _parser().parse(source)
    except FormulaSyntaxError:
        raise
    except VisitError as exc:
        if isinstance(exc.orig_exc, FormulaSyntaxError):
            raise exc.orig_exc from None
        raise located(FormulaSyntaxError, "The formula could not be read", source, 0, code="formula.E003") from None
    except UnexpectedEOF as exc:
        raise located(FormulaSyntaxError, f"The formula ends too early: expected {_describe_expected(exc.expected)}",
                      source, len(source.rstrip()), code="formula.E005") from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise located(FormulaSyntaxError, "The formula ends too early: expected "
                          f"{_describe_expected(exc.expected)}", source, len(source.rstrip()),
                          code="formula.E005") from None
        if str(tok) == "*" and source[max(tok.start_pos - 1, 0):tok.start_pos + 1] == "/*":
            raise located(FormulaSyntaxError, "Comment is not closed: add */", source, tok.start_pos - 1,
                          code="formula.E007") from None
        raise located(FormulaSyntaxError, f"Unexpected '{tok}': expected {_describe_expected(exc.expected)}",
                      source, tok.start_pos, code="formula.E006") from None
    except UnexpectedCharacters as exc:
        ch = source[exc.pos_in_stream] if exc.pos_in_stream < len(source) else ""
        if ch in "'\"":
            msg = "Text is not closed: add the closing quote"
        elif source.startswith("/*", exc.pos_in_stream):
            msg = "Comment is not closed: add */"
        else:
            msg = f"Unexpected character '{ch}'"
        raise located(FormulaSyntaxError, msg, source, exc.pos_in_stream, code="formula.E007") from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise located(FormulaSyntaxError, "The formula could not be read", source,
                      getattr(exc, "pos_in_stream", 0) or 0, code="formula.E003") from None
    finally:
        _SOURCE.reset(reading)
