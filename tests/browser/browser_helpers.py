"""Helpers of the course's browser tests (test_book_browser.py, test_explore_browser.py): a free port
on 127.0.0.1 and a bounded wait for a server (a module of its own, not conftest: ``tests/conftest.py``
would shadow an import of ``conftest``)."""

import os
import socket
import time
import urllib.request
from pathlib import Path

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


def stop_server(server) -> None:
    """Stop a server started with ``start_new_session=True``: SIGTERM to its process group, then
    SIGKILL if it has not exited within 20 s."""
    import os
    import signal
    import subprocess

    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait(timeout=10)


def live(read, timeout: float = 10.0):
    """``read(driver)`` made safe against a widget that re-renders while it is read: a found element
    may be replaced before its text or attribute is read (``StaleElementReferenceException``), or
    the list of matches be empty for a moment (``IndexError``). The returned function retries the
    whole read, for at most ``timeout`` seconds, then lets the last error through."""
    from selenium.common.exceptions import StaleElementReferenceException

    def read_now(driver):
        end = time.monotonic() + timeout
        while True:
            try:
                return read(driver)
            except (StaleElementReferenceException, IndexError):
                if time.monotonic() >= end:
                    raise
                time.sleep(0.1)

    return read_now
