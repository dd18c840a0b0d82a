"""The formula language: one typed language for formula fields, defaults, validation
rules and filters, compiled once to a generated Python function and to SQLAlchemy expressions.

Contract: ../shared/specs/formula-language.md. Imports ``engine.errors``, ``engine.registry``
and, of the metadata, only the field-type registry (each type's ``formula_type``); no records,
security or Flask.
"""
from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Mapping

from . import types as _types
from .checker import Checker
from .errors import (FormulaError, FormulaRuntimeError, FormulaSQLUnsupported, FormulaSyntaxError,
                     FormulaTypeError, located)
from .functions import FunctionDef, functions, register_function
from .parser import parse
from .codegen import generate
from .pycompile import Env, compile_node

__all__ = ["compile_formula", "CompiledFormula", "FormulaContext", "prepare_context", "FormulaError",
           "FormulaSyntaxError", "FormulaTypeError",
           "FormulaRuntimeError", "FormulaSQLUnsupported", "register_function", "functions", "FunctionDef"]


class FormulaContext(Mapping):
    """An evaluation context prepared once — for a page of records, a write, a rule's firing — and
    handed to every ``evaluate`` of it: the same keys as the plain dict (``now``, ``user``,
    ``prior``; see the spec), read-only, with the values a compiled formula reads (``TODAY()``
    included) computed here once instead of on every call."""

    __slots__ = ("_data", "env")

    def __init__(self, data=None, **values):
        self._data = dict(data or (), **values)
        self.env = _env_of(self._data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"FormulaContext({self._data!r})"


def _env_of(ctx):
    prior = ctx.get("prior")
    now = ctx.get("now") or _dt.datetime.now(_dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return Env(None, prior, prior is None, ctx.get("user") or {}, now)


def prepare_context(context=None):
    """``context`` (a dict or None) as a :class:`FormulaContext`; one already prepared is kept."""
    return context if isinstance(context, FormulaContext) else FormulaContext(context)


class CompiledFormula:
    """A checked formula: ``return_type``, ``references``, ``evaluate()`` and ``to_sql()``."""

    def __init__(self, source, tree, return_type, references, uses_prior, blank_as_zero):
        self.source = source
        self.tree = tree
        self.return_type = return_type
        self.references = frozenset(references)
        self.uses_prior = uses_prior
        self.blank_as_zero = blank_as_zero
        generated = generate(tree, blank_as_zero)
        if generated is not None:
            self._gen, self._needs_env = generated
        else:  # too deep for generated source: the closure compiler handles any depth
            closure = compile_node(tree, blank_as_zero)
            self._gen, self._needs_env = (lambda rec, env: closure(env.with_record(rec))), True

    def evaluate(self, record, context=None):
        """Evaluate against ``record`` (api_name -> value); see the spec for ``context`` (a dict,
        or a :class:`FormulaContext` prepared once for many evaluations)."""
        if record is None:
            record = {}
        env = None
        if self._needs_env:
            env = context.env if context.__class__ is FormulaContext else _env_of(context or {})
        try:
            return self._gen(record, env)
        except FormulaError:
            raise
        except decimal.Overflow:
            raise FormulaRuntimeError("The number is too large.", code="formula.E305") from None
        except (decimal.InvalidOperation, decimal.DivisionByZero, ArithmeticError) as exc:
            raise FormulaRuntimeError(f"The formula could not compute a number ({type(exc).__name__}).",
                                      code="formula.E306") from None
        except RecursionError:
            raise FormulaRuntimeError("The formula is nested too deeply.", code="formula.E390") from None
        except Exception as exc:  # noqa: BLE001 - never a bare Python exception
            raise FormulaRuntimeError(f"The formula could not be evaluated: {exc}.", code="formula.E391") from None

    def to_sql(self, resolve, dialect_name, context=None):
        """A SQLAlchemy expression for this formula; ``resolve(path_tuple)`` gives columns."""
        from .sqlcompile import compile_sql
        return compile_sql(self, resolve, dialect_name, context or {})

    def sql_supported(self, dialect_name="postgresql"):
        from .sqlcompile import sql_supported
        return sql_supported(self, dialect_name)

    def __repr__(self):
        return f"<CompiledFormula {self.source!r}: {self.return_type}>"


def compile_formula(source, fields, return_type=None, blank_as_zero=False):
    """Parse and type-check ``source`` against ``fields``; raises FormulaSyntaxError/FormulaTypeError."""
    functions_loaded()
    try:
        tree = parse(source)
        checker = Checker(source, fields, blank_as_zero)
        rtype = checker.check(tree)
    except FormulaError:
        raise
    except RecursionError:
        raise located(FormulaSyntaxError, "The formula is nested too deeply", source or "", 0,
                      code="formula.E008") from None
    if return_type is not None:
        want = _types.to_formula_type(return_type)
        if want is None:
            raise located(FormulaTypeError, f"Unknown return type '{return_type}'", source, 0, code="formula.E130")
        if rtype is not None and rtype != want:
            raise located(FormulaTypeError, f"The formula gives {_types.describe(rtype)}, but "
                          f"{_types.describe(want)} is needed", source, 0, code="formula.E131")
    return CompiledFormula(source, tree, rtype, checker.references, checker.uses_prior, blank_as_zero)


_loaded = []


def functions_loaded():
    if not _loaded:
        _loaded.append(True)
        from .functions import load_plugins
        try:
            load_plugins()
        except Exception:  # noqa: BLE001 - a broken plugin must not break every formula
            import logging
            logging.getLogger("tessera.formula").exception("loading formula function plugins failed")
