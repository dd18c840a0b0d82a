"""A report as a file: CSV (the csv module) or XLSX (openpyxl, write-only).

A summary report is flattened to one row per group and level: the leaf groups, each first-level
subtotal after its groups (``Subtotal``), and the grand total last (``Total``). A tabular report
is every row the viewer may see, read a page at a time with the list cursor.
"""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from engine.errors import InvalidRequestError

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
PAGE = 200


def check_format(fmt):
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise InvalidRequestError("reports.E022", f"Unknown export format '{fmt[:20]}'; use csv or xlsx.",
                                  fields={"format": ["unknown"]})
    return fmt


def summary_table(result):
    """(header, rows) of a summary result: key columns, a 'Level' column, aggregate columns."""
    meta = result["meta"]
    groups, aggs = meta["group_by"], meta["aggregates"]
    header = [g["label"] for g in groups] + ["Level"] + [a["label"] for a in aggs]

    def line(key, level, values):
        return [key.get(g["name"]) for g in groups] + [level] + [values.get(a["name"]) for a in aggs]

    rows = []
    for g in result["groups"]:
        if len(groups) == 2:
            for k in g.get("groups", []):
                rows.append(line(k["key"], "", k["values"]))
            rows.append(line(g["key"], "Subtotal", g["values"]))
        else:
            rows.append(line(g["key"], "", g["values"]))
    rows.append(line({}, "Total", result["totals"]))
    return header, rows


def tabular_rows(run_page):
    """(header, row iterator) of a tabular report; ``run_page(cursor)`` returns one run result."""
    first = run_page(None)
    cols = first["meta"]["columns"]
    names = [c["name"] for c in cols] if cols else [k for k in (first["rows"][0] if first["rows"] else {"id": 0})]
    header = [c["label"] for c in cols] if cols else names

    def rows():
        page = first
        while True:
            for rec in page["rows"]:
                yield [rec.get(n) for n in names]
            if not page.get("next_cursor"):
                return
            page = run_page(page["next_cursor"])
    return header, rows()


def _cell(v):
    if isinstance(v, list):
        return ";".join(map(str, v))
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    return "" if v is None else v


def to_csv(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow([_cell(v) for v in r])
    return buf.getvalue().encode("utf-8")


def to_xlsx(header, rows, title="Report"):
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(title))
    ws.append(header)
    for r in rows:
        ws.append([_xlsx_cell(ws, v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_cell(ws, v):
    if isinstance(v, Decimal):
        return float(v) if v != v.to_integral_value() or abs(v) >= 2 ** 53 else int(v)
    if isinstance(v, list):
        v = ";".join(map(str, v))
    if isinstance(v, str) and v.startswith("="):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(ws, value=v)
        cell.data_type = "s"     # text, never a formula in the reader's spreadsheet
        return cell
    return v


def _sheet_title(title):
    bad = set('[]:*?/\\')
    clean = "".join("_" if ch in bad else ch for ch in str(title))[:31]
    return clean or "Report"
