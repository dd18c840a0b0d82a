"""The engine's standard messages on Chinese pages: field errors, a save's summary, a list filter's
formula error, a refused path move and an error page are translated by their wording; the values
taken from the message stay as written; English pages keep the engine's words; the API answers in
English whatever the user's language."""
from __future__ import annotations

import html as _html

import pytest


def _zh(pages):
    assert pages.post("/locale", {"locale": "zh_CN", "next": "/"}).status_code == 303
    return pages


def _text(r):
    return _html.unescape(r.text)


def test_a_failed_save_in_chinese(rep_pages, crm_pages):
    _zh(rep_pages)
    r = rep_pages.post("/o/deal/new", {"name": "x" * 300, "stage": "Bad", "quantity": str(10 ** 20)})
    assert r.status_code == 422
    text = _text(r)
    assert "必须是以下值之一：New, Won, Lost。" in text
    assert "超过最大长度 255 个字符。" in text and "整数超出范围。" in text
    assert "Must be one of" not in text and "Longer than maximum length" not in text
    # the API keeps the engine's words
    r = crm_pages.post("/api/v1/records/deal", json={"name": "x", "stage": "Bad"})
    assert "Must be one of: New, Won, Lost." in str(r.get_json())


@pytest.mark.parametrize("where, expected", [
    ("amountt > 1", "未知字段“amountt”（第 1 行，第 1 列） 您是否要输入“amount”？"),
    ("amount >", "公式提前结束：此处需要一个值（数字、文本、字段或函数调用）（第 1 行，第 9 列）"),
    ("amount > 'x'", "无法用“>”比较数字和文本（第 1 行，第 8 列）"),
    ("SUMM(amount) > 1", "未知函数“SUMM”（第 1 行，第 1 列）"),
    ("name", "公式的结果是文本，但此处需要布尔值（TRUE/FALSE）（第 1 行，第 1 列）"),
])
def test_a_list_filters_formula_error_in_chinese(rep_pages, where, expected):
    r = _zh(rep_pages).get("/o/deal", query_string={"where": where})
    assert r.status_code == 400
    assert expected in _text(r)


def test_english_pages_keep_the_engines_words(rep_pages):
    r = rep_pages.get("/o/deal", query_string={"where": "amountt > 1"})
    assert "Unknown field 'amountt' (line 1, column 1). Did you mean 'amount'?" in _text(r)


def test_an_error_page_and_a_refused_move_in_chinese(rep_pages, crm_pages):
    crm_pages.patch("/api/v1/objects/deal/fields/stage", json={"path": True})
    crm_pages.post("/api/v1/objects/deal/validation_rules",
                   json={"name": "no_lost", "condition": "stage = 'Lost'", "message": "管理员写的消息"})
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    _zh(rep_pages)
    r = rep_pages.get("/o/deal/no-such-id")
    assert r.status_code == 404 and "没有 ID 为“no-such-id”的Deal。" in _text(r)
    rep_pages.post(f"/o/deal/{rec['id']}/path", {"value": "Lost"})
    text = _text(rep_pages.get(f"/o/deal/{rec['id']}"))
    assert "记录未移到“Lost”：管理员写的消息" in text      # the admin's message as written


def test_unknown_wording_is_shown_as_written(app):
    from engine.ui_renderer.messages import translate_message

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert translate_message("Something the pages do not know.") == "Something the pages do not know."
        assert translate_message(None) is None

