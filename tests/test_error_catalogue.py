"""The error catalogue (docs/errors.md) and the code base agree: every code the engine raises is
listed, every listed code is still raised, and no code carries an HTTP number (issue 7, item 8).

Pure: reads the source and the page, needs no database.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import errors as engine_errors
from engine.api.errors import HTTP_STATUS

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "docs" / "errors.md"
CODE = re.compile(r"""["']([a-z_]+\.E\d{3})["']""")
ROW = re.compile(r"^\| `([a-z_]+\.E\d{3})` \| ([^|]+?) \| (.+) \|$")


def _source_codes():
    """code -> [file:line, ...] for every code literal in engine/."""
    found = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for code in CODE.findall(line):
                found.setdefault(code, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def _catalogue():
    """(area heading, code, meaning, message) for every row of the '## Catalogue' section."""
    text = CATALOGUE.read_text(encoding="utf-8")
    assert "\n## Catalogue\n" in text, "docs/errors.md lost its '## Catalogue' section"
    rows, area = [], None
    for line in text.split("\n## Catalogue\n", 1)[1].splitlines():
        if line.startswith("## "):
            break
        if line.startswith("### "):
            area = line[4:].strip()
        m = ROW.match(line)
        if m:
            rows.append((area, m.group(1), m.group(2).strip(), m.group(3).strip()))
    return rows


SOURCE = _source_codes()
ROWS = _catalogue()
LISTED = [code for _area, code, _meaning, _message in ROWS]


def _http_like(code):
    return 400 <= int(code.rsplit(".E", 1)[1]) <= 599


def test_the_scan_finds_codes():
    # guards the two parsers: a regex gone wrong would make every other test pass vacuously
    assert len(SOURCE) > 200 and len(ROWS) > 200
    assert {"records.E001", "metadata.E041", "formula.E102"} <= set(SOURCE) & set(LISTED)


def test_every_raised_code_is_in_the_catalogue():
    missing = {code: sites[:3] for code, sites in SOURCE.items() if code not in LISTED}
    assert not missing, f"add these codes to docs/errors.md (## Catalogue): {missing}"


def test_every_catalogued_code_is_still_raised():
    stale = [code for code in LISTED if code not in SOURCE]
    assert not stale, f"docs/errors.md lists codes nothing raises any more: {stale}"


def test_each_code_is_listed_once_under_its_area_with_a_meaning():
    assert len(LISTED) == len(set(LISTED)), [c for c in LISTED if LISTED.count(c) > 1]
    for area, code, meaning, message in ROWS:
        assert code.split(".")[0] == area, f"{code} is listed under '### {area}'"
        assert meaning and message, f"{code} needs a meaning and a message"


@pytest.mark.parametrize("codes,where", [(sorted(SOURCE), "engine/"), (LISTED, "docs/errors.md")])
def test_no_code_carries_an_http_number(codes, where):
    # One rule for every area (formula and workflow included): no number in 400..599.
    bad = [code for code in codes if _http_like(code)]
    assert not bad, f"codes in {where} that look like HTTP statuses: {bad}"


def test_no_code_is_built_from_a_status():
    # ``f"http.{status}"`` and friends: a code is a literal a reader can grep for.
    pattern = re.compile(r"""f["'][a-z_]+\.(E\d*)?\{|["']http\.|["']internal_error["']""")
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for path in sorted((ROOT / "engine").rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line) and "code" in line]
    assert not offenders, offenders


def test_only_the_api_knows_http_status():
    # The error classes carry no status; engine/api/errors.py is the one table (docs/errors.md shows it).
    for cls in vars(engine_errors).values():
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert not hasattr(cls, "status"), cls
    from engine.formula import FormulaError
    assert not hasattr(FormulaError, "status")
    text = CATALOGUE.read_text(encoding="utf-8").split("## HTTP status", 1)[1].split("\n## ", 1)[0]
    for cls, status in HTTP_STATUS.items():
        if cls is engine_errors.EngineError:
            continue
        row = next((line for line in text.splitlines() if f"`{cls.__name__}`" in line), None)
        assert row is not None and f"| {status} |" in row, f"docs/errors.md: {cls.__name__} -> {status}"
