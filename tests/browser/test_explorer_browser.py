"""A real browser: JupyterLab runs headless on 127.0.0.1 (free port, token), Debian's Chromium opens a
notebook with the click explorer (driven by Selenium + /usr/bin/chromedriver, no browser download),
runs it, moves the tolerance slider and checks that the explorer's output changes. A screenshot is
saved to outputs/browser/explorer.png. Run with ``make test-browser`` (``make test`` leaves this folder
out). Every wait is bounded; the server is killed in a ``finally``."""

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from alkit.paths import REPO_ROOT
from browser_helpers import free_port, live, stop_server, wait_http

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = REPO_ROOT / "outputs" / "browser" / "explorer.png"

pytestmark = [
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"),
]


def explorer_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from alkit.engine.data import load_dataset\n"
        "from alkit.explorers import ClickExplorer\n"
        "data = load_dataset('shapes', n_train=4, n_val=0)\n"
        "clicker = ClickExplorer(data, index=1, tolerance=0.0)\n"
        "clicker.widget()")]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = folder / "explorer.ipynb"
    nbformat.write(nb, path)
    return path



def test_click_explorer_slider_changes_the_output_in_chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    explorer_notebook(tmp_path)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings")}
    # answer JupyterLab's "receive official Jupyter news?" question in advance (no toast over the screenshot)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--LabApp.expose_app_in_browser=True",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    driver = None
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90, tmp_path / "lab.log")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1000"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
        # headless Chromium (Debian 150 here) never gives the window focus, so JupyterLab's
        # focus tracker leaves shell.currentWidget empty and notebook commands find no notebook: emulate focus
        driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
        driver.set_page_load_timeout(90)
        driver.set_script_timeout(60)
        driver.get(f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}")
        wait = WebDriverWait(driver, 120, poll_frequency=0.5)
        wait.until(lambda d: d.execute_script(
            "return !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus === 'connected')"))
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # reads through `live`: the widgets re-render while they are read (an element found a moment ago
        # can be gone when its text or src is read)
        summary = live(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".alkit-summary") if e.text.strip()])

        def first_src(d):
            imgs = d.find_elements(By.CSS_SELECTOR, ".widget-output img")
            return imgs[0].get_attribute("src") if imgs else ""

        img_src = live(first_src)
        wait.until(lambda d: summary(d) and "clicks" in summary(d)[0])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-output img, .jp-OutputArea-output img"))
        before = summary(driver)[0]
        img_before = img_src(driver)
        assert "tolerance 0 px" in before, before

        handle = driver.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[0]
        handle.click()
        for _ in range(12):  # step 0.5 px per key: tolerance 0 -> 6 px
            handle.send_keys(Keys.ARROW_RIGHT)
        try:
            WebDriverWait(driver, 30, poll_frequency=0.5).until(lambda d: summary(d) and summary(d)[0] != before)
        except Exception:  # fall back on the slider's editable readout
            readout = driver.find_elements(By.CSS_SELECTOR, ".widget-slider .widget-readout, .widget-readout")[0]
            readout.click()
            readout.send_keys(Keys.CONTROL, "a")
            readout.send_keys("6", Keys.ENTER)
            WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda d: summary(d) and summary(d)[0] != before)
        # every key press re-renders: wait for the last one (summary at 6 px, kernel idle), so the
        # screenshot shows one consistent state (slider, summary line and figure of the same tolerance)
        kernel_idle = ("return window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                       " === 'idle'")
        WebDriverWait(driver, 90, poll_frequency=0.5).until(
            lambda d: summary(d) and "tolerance 6 px" in summary(d)[0] and d.execute_script(kernel_idle))
        wait.until(lambda d: img_src(d) not in ("", img_before))
        time.sleep(1.0)  # the browser paints the last image
        after = summary(driver)[0]
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        clicks = lambda text: int(text.split(" clicks")[0].rsplit(" ", 1)[-1])
        assert "tolerance 0 px" not in after, after
        assert clicks(after) < clicks(before), (before, after)  # a coarser polygon: fewer clicks
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        stop_server(server)
        log.close()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
