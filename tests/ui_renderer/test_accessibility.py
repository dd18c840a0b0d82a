"""Accessibility rules checked without a browser (axe-core-like): every form control has a bound
label, aria-describedby points at elements that exist, ids are unique, landmarks and one <h1> per
page; the theme's colour pairs have a contrast ratio of at least 4.5:1; focus rings are visible;
every field type has a widget template."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "engine" / "ui_renderer"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []          # (tag, attrs)
        self.label_for = set()
        self.ids = []
        self.h1 = 0
        self._label_depth = 0
        self.wrapped = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "label":
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag == "h1":
            self.h1 += 1


def check_page(html):
    """A list of problems of one page."""
    page = _Page()
    page.feed(html)
    problems = []
    ids = set(page.ids)
    dupes = {i for i in page.ids if page.ids.count(i) > 1}
    if dupes:
        problems.append(f"duplicate ids: {sorted(dupes)}")
    for tag, attrs in page.elements:
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit", "button"):
            labelled = attrs.get("id") in page.label_for or attrs.get("aria-label") or attrs.get("aria-labelledby")
            if not labelled:
                problems.append(f"<{tag} name={attrs.get('name')!r}> has no label")
        for ref in (attrs.get("aria-describedby") or "").split() + (attrs.get("aria-labelledby") or "").split():
            if ref not in ids:
                problems.append(f"<{tag}> refers to missing id {ref!r}")
    tags = [t for t, _a in page.elements]
    for landmark in ("header", "main"):
        if landmark not in tags:
            problems.append(f"no <{landmark}>")
    if page.h1 != 1:
        problems.append(f"{page.h1} <h1> elements")
    if 'role="status"' not in html:
        problems.append("no role=status region for messages")
    return problems


def _pages(admin_pages, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    deal = crm_pages.post("/api/v1/records/deal", json={"name": "Deal", "stage": "New", "account": acc["id"],
                                                        "tags": ["a"]}).get_json()
    crm_pages.delete(f"/api/v1/records/account/{crm_pages.post('/api/v1/records/account', json={'name': 'Old'}).get_json()['id']}")
    failed = admin_pages.post("/o/deal/new", {"name": "X", "amount": "abc"})
    assert failed.status_code == 422
    return {"home": admin_pages.get("/").text, "list": admin_pages.get("/o/deal").text,
            "empty list": admin_pages.get("/o/deal?q=nothing-matches").text,
            "bad where": admin_pages.get("/o/deal?where=%3E%3E").text,
            "new": admin_pages.get("/o/deal/new").text, "failed save": failed.text,
            "edit": admin_pages.get(f"/o/deal/{deal['id']}/edit").text,
            "detail": admin_pages.get(f"/o/deal/{deal['id']}").text,
            "account detail": admin_pages.get(f"/o/account/{acc['id']}").text,
            "bin": admin_pages.get("/o/account/bin").text, "search": admin_pages.get("/search?q=a").text,
            "error": admin_pages.get("/o/nope").text}


def test_pages_follow_the_rules(admin_pages, crm_pages, app):
    pages = _pages(admin_pages, crm_pages)
    pages["login"] = app.test_client().get("/login").text
    pages["welcome"] = app.test_client().get("/").text
    problems = {name: check_page(html) for name, html in pages.items()}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def test_the_checker_finds_problems():
    bad = '<header></header><main><h1>a</h1><h1>b</h1><input name="x" aria-describedby="nope"></main>'
    found = check_page(bad)
    assert "<input name='x'> has no label" in found and "2 <h1> elements" in found
    assert "<input> refers to missing id 'nope'" in found


def _colours():
    css = (PACKAGE / "static" / "tessera.css").read_text()
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", css))


def _luminance(hex_colour):
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a, b):
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


PAIRS = [("text", "bg"), ("text", "surface"), ("text", "surface-2"), ("muted", "surface"), ("muted", "bg"),
         ("muted", "surface-2"), ("accent", "surface"), ("accent", "bg"), ("accent-text", "accent"),
         ("accent-text", "accent-hover"), ("accent-hover", "accent-soft"), ("danger", "surface"),
         ("danger", "danger-soft"), ("success", "success-soft"), ("topbar-text", "topbar"),
         ("topbar-muted", "topbar"), ("text", "accent-soft")]


@pytest.mark.parametrize("fg, bg", PAIRS)
def test_theme_contrast(fg, bg):
    colours = _colours()
    ratio = contrast(colours[fg], colours[bg])
    assert ratio >= 4.5, f"--{fg} on --{bg}: {ratio:.2f}:1"


def test_focus_is_visible_and_body_is_16px():
    css = (PACKAGE / "static" / "tessera.css").read_text()
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*3px solid", css)
    assert "html { font-size: 16px;" in css and "Noto Sans CJK SC" in css


def test_every_field_type_has_a_widget():
    from engine.metadata.field_types import field_types

    missing = [name for name, ftype in field_types.items()
               if not (PACKAGE / "templates" / "engine" / ftype.widget).is_file()]
    assert not missing, f"field types without a widget template: {missing}"
