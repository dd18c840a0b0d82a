"""The weight of a list page (issue 9: under 40 KB per page after the first visit): 50 rows of a
realistic object with 12 columns — a lookup, a formula, currency, a percent, a date, a datetime, a
checkbox, an e-mail, a multi-select, an auto number — in English and in Chinese."""
from __future__ import annotations

import re

import pytest

from tests.ui_renderer.live import build_model, sign_in

LIMIT = 40 * 1024
COLUMNS = ["name", "account", "amount", "stage", "probability", "close_date", "weighted", "is_priority",
           "contact_email", "number", "next_call", "channels"]


@pytest.fixture
def heavy_list(app, services):
    from engine.security import SYSTEM_ACTOR

    accounts = build_model(services, deals=1)
    rows = [{"name": f"Northwind expansion 2025-{k:03d}", "account": accounts[k % len(accounts)]["id"],
             "amount": 12345.67 + k * 1013, "stage": "Proposal", "probability": 75, "close_date": "2025-11-30",
             "next_call": "2025-11-03T09:30:00Z", "is_priority": k % 2 == 0, "channels": ["Web", "Partner"],
             "contact_email": f"buyer{k:03d}@northwind.example"} for k in range(60)]
    services.records().bulk_create("deal", rows, SYSTEM_ACTOR)
    services.store.update_object("deal", {"list_views": [{"name": "twelve", "columns": COLUMNS, "page_size": 50}]},
                                 SYSTEM_ACTOR)
    client = app.test_client()
    assert sign_in(client, "admin", "admin-password").status_code == 303
    return client


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_list_page_of_50_rows_and_12_columns_weighs_under_40_kb(heavy_list, locale):
    if locale != "en":
        token = heavy_list.get("/").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        heavy_list.post("/locale", data={"locale": locale, "next": "/", "csrf_token": token})
    r = heavy_list.get("/o/deal?view=twelve")
    assert r.status_code == 200
    assert r.text.count('class="record-link"') == 50 and r.text.count('name="ids"') == 50
    assert len(r.data) < LIMIT, f"{len(r.data):,} bytes"
    # rows end without whitespace: an empty last cell stays :empty (the theme draws its dash)
    assert not re.search(r">\s+</tbody>", r.text)
