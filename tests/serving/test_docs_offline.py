"""``/docs`` works without a network: Swagger UI's files come from the API itself, and a real
Chromium renders every operation of the schema from them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import httpx
import pytest

from mlbedge.settings import Settings, get_settings
from tests.api_server import served_without_models
from tests.browser import headless_chromium


@pytest.fixture
def api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv(
        "MLBEDGE_REDIS_URL", os.environ.get("MLBEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    monkeypatch.setenv("MLBEDGE_STORE_KEY_PREFIX", f"docstest{os.getpid()}")
    get_settings.cache_clear()
    with served_without_models(get_settings()) as client:
        yield client


def test_docs_page_and_assets_are_local(api: httpx.Client) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert linked and all(url.startswith("/docs-assets/") for url in linked), linked
    assert "http://" not in page.text and "https://" not in page.text
    for url in linked:
        asset = api.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    assert api.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered


def test_docs_render_every_operation_in_chromium(api: httpx.Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    operations = sum(len(item) for item in api.get("/openapi.json").json()["paths"].values())
    with headless_chromium("1280,1000", console_log=True) as browser:
        browser.get(f"{api.base_url}/docs")
        WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
        shown = browser.execute_script("return document.querySelectorAll('.opblock').length")
        assert shown == operations
        assert "/v1/bets" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui").text
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
        )
        assert resources and all(r.startswith(str(api.base_url)) for r in resources), resources
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        browser.save_screenshot(str(tmp_path / "docs.png"))
        assert (tmp_path / "docs.png").stat().st_size > 10_000
