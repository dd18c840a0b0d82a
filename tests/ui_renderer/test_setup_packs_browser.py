"""Setup → Packs in real Chromium (Debian's, through Playwright), on SQLite and PostgreSQL, over a
fresh instance with only an administrator: read the plan of the education pack (crm_core comes
first), install both with their sample data from the page, find the new objects in the
navigation, open the list and a record of every object the packs installed, then uninstall the
industry pack from the page (its confirmation accepted). Any console error fails the test.
"""
from __future__ import annotations

import re

import pytest

from tests.ui_renderer.live import live_server


def _open_every_object(page, live, objects):
    """Each object opens as a list holding a record, and that record opens."""
    for obj in objects:
        page.goto(f"{live.url}/o/{obj}")
        assert page.locator("h1").count() == 1
        first = page.locator("table.data tbody a.record-link").first
        assert first.count() == 1, obj
        first.click()
        page.wait_for_url(re.compile(rf"/o/{obj}/[^/]+$"))
        assert page.locator("h1").inner_text().strip(), obj


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def empty_live(request, tmp_path_factory):
    """A live server over an empty database with one administrator (admin / admin-password)."""
    from engine.security.users import create_user

    with live_server(request.param, tmp_path_factory,
                     lambda services: create_user(services.engine, "admin", "admin-password", is_admin=True)) as server:
        yield server


@pytest.mark.slow
def test_install_a_pack_from_the_page(empty_live, browser_page):
    live = empty_live
    page = browser_page()
    page.set_default_timeout(120000)           # an install with sample data takes seconds
    page.goto(live.url + "/setup/packs")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "admin-password")
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"/setup/packs$"))
    row = page.locator("#pack-education")
    assert "Available" in row.inner_text() and "crm_core" in row.inner_text()
    row.get_by_role("link", name=re.compile("^Install")).click()
    page.wait_for_url(re.compile(r"/setup/packs/education/install"))
    assert page.locator("h1").inner_text() == "Install Education"
    heads = page.locator(".plan h2").all_inner_texts()
    assert heads[0].startswith("Install CRM core") and heads[1].startswith("Install Education")
    assert page.locator("#f-with_sample_data").is_checked()
    objects = sorted({code.split(":")[0] for code in page.locator(".plan-data code").all_inner_texts()})
    assert {"account", "student", "course", "enrollment"} <= set(objects)
    assert page.locator(".site-nav").get_by_role("link", name="Students").count() == 0
    page.get_by_role("button", name=re.compile("^Confirm: Install Education")).click()
    page.wait_for_url(re.compile(r"/setup/packs$"))
    flashes = page.locator(".flashes").inner_text()
    assert "Install CRM core:" in flashes and "Install Education:" in flashes
    assert "Installed" in page.locator("#pack-education").inner_text()
    # the new objects are in the navigation; every one opens as a list and as a record
    page.locator(".site-nav").get_by_role("link", name="Students").click()
    page.wait_for_url(re.compile(r"/o/student"))
    _open_every_object(page, live, objects)
    # uninstall the industry pack from the page (the confirmation dialog is accepted)
    page.goto(live.url + "/setup/packs")
    page.locator("#pack-education").get_by_role("link", name=re.compile("^Uninstall")).click()
    page.wait_for_url(re.compile(r"/setup/packs/education/uninstall"))
    assert "student" in page.locator(".plan-archive").inner_text()
    page.get_by_role("button", name=re.compile("^Confirm: Uninstall Education")).click()
    page.wait_for_url(re.compile(r"/setup/packs$"))
    assert page.locator(".site-nav").get_by_role("link", name="Students").count() == 0
    assert "Available" in page.locator("#pack-education").inner_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["manufacturing", "saas"])
def test_every_industry_pack_installs_from_the_page(empty_live, browser_page, name):
    """The other industry packs the same way (crm_core is installed first when it is not yet):
    install with sample data from the page, then every object they install opens as a list and a
    record."""
    live = empty_live
    page = browser_page()
    page.set_default_timeout(120000)
    page.goto(live.url + "/setup/packs")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "admin-password")
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"/setup/packs$"))
    title = page.locator(f"#pack-{name} strong").inner_text()    # the pages name a pack by its title
    page.locator(f"#pack-{name}").get_by_role("link", name=re.compile("^Install")).click()
    page.wait_for_url(re.compile(rf"/setup/packs/{name}/install"))
    assert page.locator("#f-with_sample_data").is_checked()
    objects = sorted({code.split(":")[0] for code in page.locator(".plan-data code").all_inner_texts()})
    assert objects, name
    page.get_by_role("button", name=re.compile(f"^Confirm: Install {re.escape(title)}")).click()
    page.wait_for_url(re.compile(r"/setup/packs$"))
    assert f"Install {title}:" in page.locator(".flashes").inner_text()
    assert "Installed" in page.locator(f"#pack-{name}").inner_text()
    _open_every_object(page, live, objects)
