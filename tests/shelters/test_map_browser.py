"""The shelter map in headless Chromium: Leaflet from our own static files under the CSP,
markers from the scoped API, popups that show a `<script>` name as text."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>"




def test_map_shows_scoped_markers_and_escapes_names(live_server, tree, make_person, make_shelter):
    from playwright.sync_api import expect, sync_playwright

    make_shelter(tree.township, code="S1", name=XSS, capacity=100, occupancy=20)
    make_shelter(tree.township, code="S2", lon=115.95, lat=39.43)
    make_shelter(tree.township2, code="S3")  # another township: not on this user's map
    person = make_person("township", tree.township)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_server}/login?next=/shelters/map")
        page.fill("input[name=phone]", person.phone)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/shelters/map")
        # (no wait_for_function: its polling evaluates strings, which our CSP rightly forbids)
        expect(page.locator("#shelter-map-count")).to_have_text("2", timeout=20_000)
        markers = page.locator("path.leaflet-interactive")
        assert markers.count() == 2
        texts = []
        for i in range(2):  # open each marker's popup in turn (Leaflet shows one at a time)
            markers.nth(i).click(force=True)
            popup = page.locator(".leaflet-popup-content")
            expect(popup).to_have_count(1, timeout=10_000)
            texts.append(popup.inner_text())
            page.keyboard.press("Escape")
            expect(popup).to_have_count(0, timeout=10_000)
        assert sorted(t.split()[0] for t in texts) == ["S1", "S2"] and any(XSS in t for t in texts), texts
        assert page.evaluate("window.__pwned") is None
        assert page.locator(".leaflet-popup-content img").count() == 0
        assert not [e for e in errors if "Content Security Policy" in e or "TypeError" in e], errors
        browser.close()
