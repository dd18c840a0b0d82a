"""Charts as SVG rendered on the server with pygal (no JavaScript: pygal's scripts are left out).

``render_chart(result, chart)`` draws a summary report's result: ``x`` the first grouping (the
default), ``y`` an aggregate (default: the first), ``series`` the second grouping (a stacked bar
or one line per value). ``number`` is a KPI: the grand total of ``y``, written as plain SVG text.
"""
from __future__ import annotations

import re
from decimal import Decimal
from xml.sax.saxutils import escape

import pygal
from pygal.style import Style

STYLE = Style(background="white", plot_background="white", foreground="#333", foreground_strong="#111",
              foreground_subtle="#666", colors=("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c",
                                                "#319795", "#b7791f", "#4a5568", "#e53e3e", "#718096"),
              font_family="system-ui, sans-serif")
BLANK = "(blank)"


def _num(v):
    if v is None:
        return None
    return float(v) if isinstance(v, (Decimal, int, float)) else None


def _label(v):
    if v is None:
        return BLANK
    if isinstance(v, bool):
        return "Yes" if v else "No"
    return str(v)


def render_chart(result, chart, *, title=None, width=800, height=450, key_label=None):
    """The SVG (bytes) of ``chart`` (a report's ``chart`` entry) over a run's ``result``.
    ``key_label(grouping name, value)`` names a group key (a page shows a picklist's translated
    label, a lookup's name); default: the value itself, "(blank)" for none."""
    name_of = key_label or (lambda _grouping, v: _label(v))
    meta = result["meta"]
    groups = [g["name"] for g in meta["group_by"]]
    aggs = {a["name"]: a for a in meta["aggregates"]}
    y = chart.get("y") or (meta["aggregates"][0]["name"] if meta["aggregates"] else "count")
    title = title or chart.get("title") or aggs.get(y, {}).get("label") or y
    kind = chart["type"]
    if kind == "number":
        return _number_svg(result["totals"].get(y), title, width=min(width, 400), height=min(height, 200))
    x = chart.get("x") or (groups[0] if groups else None)
    series = chart.get("series") or (groups[1] if len(groups) > 1 and x == groups[0] and kind in
                                     ("bar", "column", "line", "area") else None)
    config = dict(style=STYLE, width=width, height=height, title=title, js=[], show_legend=True,
                  disable_xml_declaration=False, explicit_size=True, truncate_legend=30, print_values=False,
                  truncate_label=-1)   # never "1000…" for 100000 on an axis
    top = result["groups"]
    if kind in ("pie", "donut", "funnel"):
        cls = pygal.Funnel if kind == "funnel" else pygal.Pie
        extra = {"inner_radius": 0.45} if kind == "donut" else {}
        c = cls(**config, **extra)
        for g in top:
            c.add(name_of(x, g["key"].get(x)), [_num(g["values"].get(y))])
        return _no_script(c.render())
    stacked = bool(chart.get("stacked", series is not None and kind in ("bar", "column")))
    cls = {("bar", False): pygal.HorizontalBar, ("bar", True): pygal.HorizontalStackedBar,
           ("column", False): pygal.Bar, ("column", True): pygal.StackedBar,
           ("line", False): pygal.Line, ("line", True): pygal.StackedLine,
           ("area", False): pygal.Line, ("area", True): pygal.StackedLine}[(kind, stacked)]
    extra = {"fill": True} if kind == "area" else {}
    c = cls(**config, x_label_rotation=30 if len(top) > 8 else 0, **extra)
    labels = [name_of(x, g["key"].get(x)) for g in top]
    c.x_labels = labels
    if series:
        raw = {}
        for g in top:
            for k in g.get("groups", []):
                raw.setdefault(name_of(series, k["key"].get(series)), k["key"].get(series))
        # one legend in key order, blanks last (each parent lists only its own series: encounter order is not it)
        names = sorted(raw, key=lambda n: (raw[n] is None, str(type(raw[n])), raw[n] if raw[n] is not None else 0))
        for name in names:
            values = []
            for g in top:
                hit = next((k for k in g.get("groups", []) if name_of(series, k["key"].get(series)) == name), None)
                values.append(_num(hit["values"].get(y)) if hit else None)
            c.add(name, values)
    else:
        c.add(aggs.get(y, {}).get("label") or y, [_num(g["values"].get(y)) for g in top])
    return _no_script(c.render())


_SCRIPT = re.compile(rb"<script\b[^>]*>.*?</script>", re.S)


def _no_script(svg):
    """pygal writes its tooltip configuration as an inline script even with ``js=[]``: the chart is
    static, and an image needs no script."""
    return _SCRIPT.sub(b"", svg)


def _number_svg(value, title, *, width=400, height=200):
    if value is None:
        text = "–"
    elif isinstance(value, (int, Decimal, float)):
        d = Decimal(str(value))
        text = f"{d:,.0f}" if d == d.to_integral_value() else f"{d:,.2f}"
    else:
        text = str(value)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}: '
            f'{escape(text)}">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="50%" y="38%" text-anchor="middle" font-family="system-ui, sans-serif" font-size="18" '
            f'fill="#666">{escape(title)}</text>'
            f'<text x="50%" y="72%" text-anchor="middle" font-family="system-ui, sans-serif" font-size="48" '
            f'font-weight="bold" fill="#111">{escape(text)}</text></svg>').encode("utf-8")
