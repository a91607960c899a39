"""Fixtures shared by the test folders: a headless Chromium for the HTML reports."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by the system chromedriver (nothing is downloaded); skipped, saying why,
    without selenium, chromium or chromedriver (`make browser` installs Debian's)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium")
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("browser tests need chromium and chromedriver on PATH")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,1300",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()
