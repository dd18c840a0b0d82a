"""Rich text on the pages: the form's editor posts HTML, the record service keeps it cleaned by
nh3 (an allow-list sanitiser), and the detail page shows the cleaned HTML — never the user's raw
markup, whichever door wrote it."""
from __future__ import annotations

import pytest

DIRTY = ('<p>Hello <b>bold</b> <i>it</i></p><script>alert(1)</script><img src=x onerror="alert(2)">'
         '<a href="javascript:alert(3)">bad</a> <a href="https://example.com/">good</a><ul><li>one</li></ul>')


@pytest.fixture
def rich_deal(crm_pages):
    r = crm_pages.post("/api/v1/objects/deal/fields", json={"api_name": "summary", "label": "Summary",
                                                            "type": "rich_text"})
    assert r.status_code == 201, r.get_json()
    return crm_pages


def _clean(html):
    for bad in ("<script", "alert(1)", "onerror", "javascript:"):
        assert bad not in html, bad


def test_the_form_saves_cleaned_html_and_the_page_shows_it(admin_pages, rich_deal):
    form = admin_pages.get("/o/deal/new").text
    assert "data-rich-editor" in form and 'name="summary"' in form and "richtext.js" in form
    assert 'role="toolbar"' in form and 'aria-label="Bold"' in form
    r = admin_pages.post("/o/deal/new", {"name": "Rich", "stage": "New", "summary": DIRTY})
    assert r.status_code == 303, r.text[:1000]
    rec = rich_deal.get("/api/v1/records/deal").get_json()["records"][0]
    _clean(rec["summary"])
    assert "<b>bold</b>" in rec["summary"] and '<a href="https://example.com/"' in rec["summary"]
    page = admin_pages.get(r.headers["Location"]).text
    section = page.split('data-field="summary"', 1)[1].split("</div>", 2)
    shown = "".join(section[:2])
    _clean(page.split('data-field="summary"', 1)[1][:2000])
    assert '<div class="rich"><p>Hello <b>bold</b> <i>it</i></p>' in shown
    # the edit form holds the cleaned value, escaped in the textarea
    edit = admin_pages.get(f"{r.headers['Location']}/edit").text
    assert "&lt;b&gt;bold&lt;/b&gt;" in edit and "<script>alert(1)" not in edit


def test_a_value_written_elsewhere_is_shown_cleaned(admin_pages, rich_deal, services):
    """Even a value that reached the table without the service (an import by hand) is cleaned on
    display."""
    from sqlalchemy import update

    rec = rich_deal.post("/api/v1/records/deal", json={"name": "Raw", "stage": "New", "summary": "<p>x</p>"}).get_json()
    table = services.records().snapshot.get("deal").table
    with services.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == rec["id"]).values(summary=DIRTY))
    page = admin_pages.get(f"/o/deal/{rec['id']}").text
    _clean(page.split('data-field="summary"', 1)[1][:2000])
    assert "<b>bold</b>" in page


def test_a_failed_save_keeps_the_rich_text_escaped(admin_pages, rich_deal):
    r = admin_pages.post("/o/deal/new", {"name": "Rich", "stage": "", "summary": DIRTY})
    assert r.status_code == 422
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
