"""``make explore`` in a real browser: Voila serves the explorers page (alkit.webapp) on 127.0.0.1,
headless Chromium opens it with a small sandbox budget in the address, the page shows no code, the
sandbox draws its curve, a control change (the strategy) brings a new curve, and going back to a
strategy already run answers at once from the results store. A screenshot is
saved to outputs/browser/explore.png. The server is killed in a ``finally``."""

import os
import subprocess
import time

import pytest
from browser_helpers import free_port, live, stop_server, wait_http

from alkit.paths import REPO_ROOT
from alkit.webapp import voila_command, voila_env, write_app

SCREENSHOT = REPO_ROOT / "outputs" / "browser" / "explore.png"
# a small sandbox (2 cycles, 2 trials, short training): seconds per run on 2 cores, stored for the next visit
QUERY = "?initial=20&step=20&cycles=2&epochs=10&min_steps=60&trials=2&strategy=entropy"


def stable(driver, read, seconds=3.0, timeout=60.0):
    """Wait until ``read(driver)`` has not changed for ``seconds`` (the live redraws are over); its value."""
    import time

    end, last, since = time.monotonic() + timeout, read(driver), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.5)
        now = read(driver)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return now
    return last


def test_sandbox_answers_a_strategy_change_with_a_new_curve(tmp_path, chromium):
    pytest.importorskip("voila")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    app = write_app(tmp_path / "app")
    port = free_port()
    env = voila_env({**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
                     "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"), "JUPYTER_DATA_DIR_EXTRA": ""})
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(voila_command(app, port), stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    driver = chromium
    try:
        wait_http(f"http://127.0.0.1:{port}/", 120, tmp_path / "voila.log")
        # Voila answers once it has executed the whole app in a fresh kernel (torch imported, the
        # sandbox's first drawing): a margin for a slow, busy 2-core machine. Selenium's own HTTP
        # client gives up after 120 s whatever the page-load timeout, so it is raised as well.
        driver.set_page_load_timeout(300)
        driver.command_executor.client_config.timeout = 330
        driver.get(f"http://127.0.0.1:{port}/{QUERY}")
        # every read of the page goes through `live`: the widgets re-render while the sandbox runs, so an
        # element found a moment ago can be gone when its text or src is read (seen in a clean-clone CI run)
        from selenium.common.exceptions import StaleElementReferenceException

        wait = WebDriverWait(driver, 240, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,))
        summaries = live(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".alkit-summary")
                                    if e.text.strip()])
        # the sandbox's summary line names its strategy; the click explorer's names the tolerance
        sandbox_line = lambda d: next((t for t in summaries(d) if "Random" in t or "random" in t), "")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".widget-output img")) >= 2)
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "ALSandbox(" not in page and "import" not in page, "code is visible on the page"
        assert not driver.find_elements(By.CSS_SELECTOR, ".jp-InputArea-editor, .CodeMirror, .cm-editor")
        img = live(lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-output img")[0].get_attribute("src"))
        # wait until the sandbox's runs are done (the summary stops changing: trials 2 of 2)
        wait.until(lambda d: "entropy" in sandbox_line(d).lower() and "trial runs done" not in sandbox_line(d))
        before_img = stable(driver, img)
        before_line = sandbox_line(driver)

        # the dropdown is found again at every use: a widget update can re-render it (a kept element
        # then raises StaleElementReferenceException; seen once in a clean-clone CI run)
        fresh = WebDriverWait(driver, 30, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,))
        strategy = lambda d: Select(d.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")[1])  # dataset, strategy, ...

        def choose(text):
            fresh.until(lambda d: strategy(d).select_by_visible_text(text) or True)

        assert "margin" in fresh.until(lambda d: [o.text for o in strategy(d).options])
        choose("margin")
        wait.until(lambda d: "margin" in sandbox_line(d).lower() and img(d) != before_img)
        wait.until(lambda d: "trial runs done" not in sandbox_line(d))
        after_img = stable(driver, img)
        assert after_img != before_img  # a new curve for the new strategy
        after_line = sandbox_line(driver)
        assert after_line != before_line, (before_line, after_line)
        # back to Entropy: its runs are in the results store now, so the answer is complete at once
        choose("entropy")
        WebDriverWait(driver, 15, poll_frequency=0.25).until(
            lambda d: "entropy" in sandbox_line(d).lower() and "trial runs done" not in sandbox_line(d))
        choose("margin")
        WebDriverWait(driver, 15, poll_frequency=0.25).until(
            lambda d: "margin" in sandbox_line(d).lower() and "trial runs done" not in sandbox_line(d))
        assert stable(driver, img) == after_img  # the same stored runs, the same curve
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.set_window_size(1400, 2400)  # the whole page: sandbox, click explorer and pool inspector
        time.sleep(1.0)
        driver.save_screenshot(str(SCREENSHOT))
    finally:
        stop_server(server)
        log.close()
