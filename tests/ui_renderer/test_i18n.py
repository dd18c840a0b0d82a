"""Languages: complete catalogues (a msgid without a zh_CN translation fails), catalogues compiled
at start (into a cache when the package is read-only), the locale of a request (the user's, else
Accept-Language), the switcher, translated metadata labels, and locale formats."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

PACKAGE = Path(__file__).resolve().parents[2] / "engine" / "ui_renderer"
TRANSLATIONS = PACKAGE / "translations"


def _source_msgids():
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.do"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PACKAGE), method_map, options, keywords=keywords):
        ids.add(message if isinstance(message, str) else tuple(message))
    return ids


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_catalogue_is_complete(locale):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale=locale)
    missing = []
    for msgid in sorted(_source_msgids(), key=str):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        strings = [] if message is None else (list(message.string) if isinstance(message.string, (list, tuple))
                                              else [message.string])
        if message is None or message.fuzzy or not strings or not all(strings):
            missing.append(key)
    assert not missing, f"{len(missing)} message(s) without a {locale} translation (run pybabel update, " \
                        f"see docs/browser.md): {missing[:10]}"


def test_catalogues_compiled_at_start_and_cached_when_read_only(tmp_path, monkeypatch):
    from engine.ui_renderer import i18n

    source = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, source, ignore=shutil.ignore_patterns("*.mo"))
    assert i18n.prepare_catalogues(source) == str(source)
    assert (source / "zh_CN" / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000
    real_write = i18n._write_all

    def read_only(compiled, src, target):        # as root chmod would not stop us: refuse here
        if target == src:
            raise PermissionError("read-only file system")
        return real_write(compiled, src, target)

    monkeypatch.setattr(i18n, "_write_all", read_only)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = Path(i18n.prepare_catalogues(source))
    assert target != source and str(target).startswith(str(tmp_path / "cache"))
    assert (target / "zh_CN" / "LC_MESSAGES" / "messages.mo").exists()
    assert (target / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo").exists()   # the name gettext asks for


def test_anonymous_visitor_gets_the_browser_language(app, crm_pages):
    client = app.test_client()
    r = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in r.text and "登录 Tessera" in r.text and "用户名" in r.text
    r = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="en">' in r.text and "Sign in to Tessera" in r.text


def test_switcher_remembers_the_choice_for_the_user(app, admin_pages, crm_pages):
    r = admin_pages.post("/locale", {"locale": "zh_CN", "next": "/o/deal"})
    assert r.status_code == 303 and r.headers["Location"] == "/o/deal"
    page = admin_pages.get("/o/deal")
    assert '<html lang="zh-CN">' in page.text and "回收站" in page.text
    assert crm_pages.get("/api/v1/users/admin").get_json()["locale"] == "zh_CN"
    from tests.ui_renderer.live import sign_in
    fresh = app.test_client()
    sign_in(fresh, "admin", "admin-password")
    assert "回收站" in fresh.get("/o/deal", headers={"Accept-Language": "en"}).text   # the user's locale wins
    assert admin_pages.post("/locale", {"locale": "klingon", "next": "https://evil.example"}).headers[
        "Location"] == "/"


def test_metadata_labels_and_formats_follow_the_locale(app, admin_pages, crm_pages):
    doc = {"api_name": "equipment", "label": "Equipment", "plural_label": "Equipment", "label_zh": "设备",
           "fields": [{"api_name": "status", "label": "Status", "label_zh": "状态", "type": "picklist",
                       "options": [{"value": "ok", "label": "Working", "label_zh": "正常"}]},
                      {"api_name": "price", "type": "currency", "scale": 2},
                      {"api_name": "bought", "type": "date"}]}
    assert crm_pages.post("/api/v1/objects", json=doc).status_code == 201
    rec = crm_pages.post("/api/v1/records/equipment", json={"name": "Lathe", "status": "ok", "price": 1234.5,
                                                            "bought": "2025-03-01"}).get_json()
    en = admin_pages.get(f"/o/equipment/{rec['id']}").text
    assert "Working" in en and "1,234.50" in en and "Mar 1, 2025" in en and "Status" in en
    admin_pages.post("/locale", {"locale": "zh_CN"})
    zh = admin_pages.get(f"/o/equipment/{rec['id']}").text
    assert "设备" in zh and "状态" in zh and "正常" in zh and "2025年3月1日" in zh and "1,234.50" in zh
    assert ">设备</a>" in admin_pages.get("/").text


@pytest.mark.parametrize("doc, locale, expected", [
    ({"label": "Deal", "label_i18n": {"zh_CN": "商机"}}, "zh_CN", "商机"),
    ({"label": "Deal", "label_i18n": {"zh": "商机"}}, "zh_CN", "商机"),
    ({"label": "Deal", "label_zh": "商机"}, "zh_CN", "商机"),
    ({"label": "Deal", "label_i18n": {"zh_CN": "商机"}, "label_zh": "旧"}, "zh_CN", "商机"),
    ({"label": "Deal", "label_zh": "商机"}, "en", "Deal"),
    ({"label": "Deal", "label_i18n": {}}, "zh_CN", "Deal"),
])
def test_translated_reads_label_i18n_and_label_zh(doc, locale, expected):
    from engine.ui_renderer.i18n import translated

    assert translated(doc, "label", locale=locale) == expected


@pytest.mark.parametrize("raw, expected", [("zh-CN", "zh_CN"), ("zh", "zh_CN"), ("zh_Hans", "zh_CN"),
                                           ("en-US", "en"), ("EN", "en"), ("fr", None), (None, None)])
def test_normalise_locale(raw, expected):
    from engine.ui_renderer.i18n import normalise_locale

    assert normalise_locale(raw) == expected
