"""Take the screenshots of docs/browser.md (list view, form with a validation message, detail page,
recycle bin, sign-in; English and Chinese) with Debian's Chromium:

    python -m tests.ui_renderer.screenshots [docs/img]
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from engine import create_app
from tests.ui_renderer.live import LiveServer, build_model, launch_chromium


def take(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app({"database_url": f"sqlite:///{tempfile.mkdtemp()}/docs.db"})
    services = app.extensions["tessera"]
    build_model(services, deals=40)
    acme = services.records().list("account", services.actor("admin"), filters={"name": "Acme Energy"})["records"][0]
    server = LiveServer(app).start()
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            for lang, suffix in (("en", "en"), ("zh_CN", "zh")):
                context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
                page = context.new_page()
                page.goto(server.url + "/login")
                if lang != "en":
                    page.select_option("#locale-select", lang)
                    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
                page.screenshot(path=str(out / f"login-{suffix}.png"))
                page.fill("#f-username", "admin")
                page.fill("#f-password", "admin-password")
                page.click(".auth-card button[type=submit]")
                page.wait_for_url(server.url + "/")
                if lang != "en":
                    page.select_option("#locale-select", lang)
                    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
                page.goto(server.url + "/o/deal?view=open_deals")
                page.check("tbody tr:nth-child(2) input[name=ids]")
                page.check("tbody tr:nth-child(3) input[name=ids]")
                page.screenshot(path=str(out / f"list-{suffix}.png"))
                page.goto(server.url + "/o/deal/new")
                page.fill("#f-name", "Acme renewal 2026" if lang == "en" else "Acme 2026 续约")
                page.select_option("#f-stage", "Closed Won")
                page.fill("#f-amount", "48000")
                page.fill("#f-probability", "90")
                page.fill("#f-account", "acm")
                page.locator(".lookup-list li[role=option]").first.wait_for()
                page.screenshot(path=str(out / f"lookup-{suffix}.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 520})
                page.locator(".lookup-list li[role=option]").first.click()
                page.click(".page-head button.btn-primary")
                page.locator("#f-close_date-error").wait_for()
                page.screenshot(path=str(out / f"form-{suffix}.png"), full_page=True)
                page.goto(server.url + f"/o/account/{acme['id']}")
                page.screenshot(path=str(out / f"account-{suffix}.png"), full_page=True)
                page.goto(server.url + "/o/deal?sort=-amount")
                page.click("a.record-link >> nth=0")
                page.click(".page-head a.btn-primary")
                page.fill("#f-amount", "130000")
                page.select_option("#f-stage", "Negotiation")
                page.click(".page-head button.btn-primary")
                page.wait_for_url("**/o/deal/*")
                page.screenshot(path=str(out / f"detail-{suffix}.png"), full_page=True)
                page.set_viewport_size({"width": 390, "height": 844})
                page.goto(server.url + "/o/deal")
                page.screenshot(path=str(out / f"phone-{suffix}.png"))
                context.close()
            browser.close()
    finally:
        server.stop()
        services.dispose()
    return sorted(p.name for p in out.glob("*.png"))


if __name__ == "__main__":
    print("\n".join(take(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
