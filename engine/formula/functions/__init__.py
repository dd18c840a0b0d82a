"""The formula function registry.

A function declares its name, parameter types, return type, a Python implementation and
optionally a SQL implementation. Registered functions are type-checked like built-ins.
Plugins register through the entry-point group ``tessera.formula_functions`` (the entry
point names a ``FunctionDef`` or a callable ``install(register_function)``).

Blank rules for plain functions (spec, corner case 7): a blank argument of a ``text``
parameter reads as ``''``; a blank argument of any other parameter makes the result blank.
Functions with ``handles_blank=True`` receive blanks as ``None`` and decide themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.registry import Registry

ANY = "any"


@dataclass(frozen=True)
class FunctionDef:
    name: str
    params: tuple                      # each: a type name, a tuple of type names, or ANY
    returns: object                    # a type name, or fn(arg_types) -> type name
    impl: object = None                # fn(*values) -> value  (for plain functions)
    sql: object = None                 # fn(sql_ctx, *sql_args) -> SQL expression, or None
    min_args: int | None = None        # default: len(params)
    varargs: bool = False              # the last parameter repeats
    handles_blank: bool = False
    blank_text_as_blank: bool = False  # text parameters keep blanks (date parsing functions)
    special: str | None = None         # the checker/compiler treat these forms themselves
    check: object = None               # fn(arg_nodes) -> (arg index, message, hint) or None: compile time
    builtin: bool = False              # shipped with the engine (plugins' text results are length-checked)
    reads_record: bool = False         # depends on the row even without field arguments (IN_SEGMENT):
                                       # the SQL compiler never folds a call of it into a constant
    doc: str = ""
    family: str = "other"
    examples: tuple = field(default_factory=tuple)

    @property
    def arity(self):
        lo = len(self.params) if self.min_args is None else self.min_args
        hi = None if self.varargs else len(self.params)
        return lo, hi


functions = Registry("formula function", entry_point_group="tessera.formula_functions")


def register_function(name, params=(), returns="number", impl=None, *, sql=None, min_args=None, varargs=False,
                      handles_blank=False, doc="", family="plugin", replace=False, **kw):
    """Register a formula function (usable as a decorator when ``impl`` is omitted)."""
    def do(fn):
        fdef = FunctionDef(name=name.upper(), params=tuple(params), returns=returns, impl=fn, sql=sql,
                           min_args=min_args, varargs=varargs, handles_blank=handles_blank,
                           doc=doc or (fn.__doc__ or "").strip().split("\n")[0], family=family, **kw)
        functions.register(fdef.name, fdef, replace=replace, owner=getattr(fn, "__module__", None))
        return fn
    if impl is None:
        return do
    do(impl)
    return impl


def builtin(name, params, returns, *, family, **kw):
    """Decorator for built-in functions."""
    def deco(fn):
        register_function(name, params, returns, fn, family=family, builtin=True, **kw)
        return fn
    return deco


def load_plugins():
    """Load plugin functions once from the ``tessera.formula_functions`` entry points."""
    from importlib.metadata import entry_points

    if functions._plugins_loaded:
        return
    functions._plugins_loaded = True
    for ep in entry_points(group="tessera.formula_functions"):
        obj = ep.load()
        if isinstance(obj, FunctionDef):
            functions.register(obj.name, obj, owner=ep.value)
        elif callable(obj):
            obj(register_function)


from . import date, logical, math, text  # noqa: E402,F401  (built-ins)
