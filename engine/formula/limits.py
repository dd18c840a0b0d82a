"""Resource limits of the formula language (issue 8), in one place; docs/formula.md lists them.

Formulas are typed by business admins and, in ``where=``, by any API client, and their constant
parts are computed on the server before a query runs. These bounds keep every formula's cost
small and predictable: the size of the text and of its tree (checked while parsing), the length
of any text a formula builds (checked before it is built, in Python and in SQL), and the size and
nesting of the SQL a filter compiles to.
"""
from __future__ import annotations

MAX_LENGTH = 20_000     # characters of formula text
MAX_NODES = 3_000       # parts of the parsed formula: values, names, operators and function calls
MAX_DEPTH = 100         # nesting levels of the parsed formula (a chain a + b + c counts one per operator)
MAX_TEXT = 100_000      # characters of any text a formula builds (&, SUBSTITUTE, LPAD, RPAD, TEXT, plugins)

# SQL: shared sub-expressions written out, and nesting of the expression (SQLAlchemy compiles it
# recursively). SQLite's own parser is tighter still; ``sqlcheck`` asks the SQLite library itself.
SQL_MAX_SIZE = 20_000
SQL_MAX_DEPTH = 120
