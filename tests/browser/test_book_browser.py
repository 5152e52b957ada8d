"""``make book`` in a real browser, opened from disk (file://, no server): the landing page is the
notebook index with a link per notebook, a notebook page shows its figure (a loaded image), and the
search box finds a glossary term on the glossary page. The book is built first (alkit.book.build:
the executed notebooks of outputs/notebooks, the missing ones run with the smoke preset).
Screenshots: outputs/browser/book_index.png and outputs/browser/book_notebook.png."""

import json

import pytest

from alkit.paths import REPO_ROOT

SHOTS = REPO_ROOT / "outputs" / "browser"


@pytest.fixture(scope="module")
def book():
    pytest.importorskip("myst_nb")
    from alkit.book import build

    index = build()  # outputs/book/index.html
    return index.parent


def loaded_images(driver, By):
    return [e for e in driver.find_elements(By.CSS_SELECTOR, "div.cell_output img, .output img")
            if driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", e)]


def test_index_opens_from_disk_with_every_notebook(book, chromium):
    from selenium.webdriver.common.by import By

    from alkit.experiments.reproduce import list_notebooks

    driver = chromium
    driver.get((book / "index.html").as_uri())
    assert "course index" in driver.title
    links = {a.get_attribute("href").rsplit("/", 1)[-1] for a in driver.find_elements(By.CSS_SELECTOR, "table a")}
    assert {f"{nb.stem}.html" for nb in list_notebooks()} <= links
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "Glossary" in body and "Quick search" in body
    for href in ("glossary.html", "solutions/index.html"):
        assert driver.find_elements(By.CSS_SELECTOR, f'a[href="{href}"]'), href
    assert json.loads((book / "build.json").read_text())["solutions"] >= 10
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "book_index.png"))


def test_notebook_page_shows_its_figure_and_provenance(book, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    driver.get((book / "index.html").as_uri())
    driver.find_element(By.CSS_SELECTOR, 'table a[href="01_augmentation.html"]').click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("01_augmentation.html"))
    WebDriverWait(driver, 30).until(lambda d: loaded_images(d, By))
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "This page: executed with the" in body and "preset on" in body and "commit" in body
    img = loaded_images(driver, By)[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    driver.save_screenshot(str(SHOTS / "book_notebook.png"))
    assert img.size["width"] > 200


def test_search_finds_a_glossary_term(book, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium
    driver.get((book / "index.html").as_uri())
    box = driver.find_element(By.CSS_SELECTOR, 'input[name="q"]')
    box.send_keys("tolerance", Keys.ENTER)  # the search box: Sphinx's client-side search, no server
    WebDriverWait(driver, 30).until(lambda d: "search.html" in d.current_url)
    hits = lambda d: [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#search-results a")]
    WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda d: any("glossary.html" in h for h in hits(d)))
    driver.get(next(h for h in hits(driver) if "glossary.html" in h))
    term = driver.find_element(By.CSS_SELECTOR, "dl.glossary dt#term-tolerance")
    assert "tolerance" in term.text
