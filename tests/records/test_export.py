"""CSV export through the record service: every record the caller may see, over several pages,
streamed after the request that started it has ended (it holds no request state)."""
from __future__ import annotations

import csv
import io

from engine.records.export import PAGE, export_csv
from engine.security import SYSTEM_ACTOR


def test_export_streams_every_page(crm, services):
    n = PAGE * 2 + 37
    rows = [{"name": f"Deal {i:04d}", "stage": "New", "amount": i} for i in range(n)]
    assert crm.post("/api/v1/records/deal", json=rows).status_code == 201
    r = crm.get("/api/v1/records/deal/export?order_by=name")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    got = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [g["name"] for g in got] == [f"Deal {i:04d}" for i in range(n)]
    # the same through the service door: the generator runs after the "request" is over
    filename, chunks = export_csv(services.records(), "deal", SYSTEM_ACTOR, where="amount >= 1000",
                                  order_by="-amount")
    text = "".join(chunks)
    body = list(csv.DictReader(io.StringIO(text)))
    assert filename == "deal.csv" and len(body) == n - 1000
    assert float(body[0]["amount"]) == n - 1


def test_an_empty_export_has_only_the_header(crm):
    text = crm.get("/api/v1/records/deal/export").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:2] == ["id", "name"] and "amount" in header
    assert text.count("\n") == 1
