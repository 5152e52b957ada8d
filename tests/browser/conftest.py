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
# (test_book_browser.py, test_explore_browser.py): Debian's Chromium through /usr/bin/chromedriver
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HAVE_CHROMIUM = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
NO_CHROMIUM = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, log: Path | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s; the server's log ends:\n{tail}")


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium (Selenium), closed afterwards; every wait of the tests is bounded."""
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
