"""The browser test runs only when asked for by path (``make test-browser`` =
``pytest tests/browser``); a plain ``pytest tests`` / ``make test`` skips it."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    asked = any(Path(str(a).split("::")[0]).resolve().is_relative_to(HERE) for a in config.args)
    if asked:
        return
    skip = pytest.mark.skip(reason="browser test: run it with `make test-browser` (pytest tests/browser)")
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(skip)


# ------------------------------------------------------------------ shared by the course tests
@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium (Debian's, through /usr/bin/chromedriver via Selenium), closed afterwards."""
    from browser_helpers import CHROMEDRIVER, CHROMIUM, HAVE_CHROMIUM, NO_CHROMIUM

    if not HAVE_CHROMIUM:
        pytest.skip(NO_CHROMIUM)
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 "--window-size=1400,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        try:
            driver.quit()
        except Exception:
            pass
