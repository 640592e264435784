"""The search page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium)."""

import shutil
import socket
import threading
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def server_url(served):
    import uvicorn

    app = served[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def results(browser):
    from selenium.webdriver.common.by import By

    return [item.find_element(By.CLASS_NAME, "id").text for item in browser.find_elements(By.CSS_SELECTOR, "#results li")]


def test_search_and_slide_towards_diversity(server_url, browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    client = served[0]
    wait = WebDriverWait(browser, 30)
    browser.get(server_url + "/")
    assert "tfsearch" in browser.title
    Select(browser.find_element(By.ID, "k")).select_by_visible_text("5")
    box = browser.find_element(By.ID, "q")
    box.send_keys("the cat", Keys.ENTER)
    wait.until(expected_conditions.presence_of_all_elements_located((By.CSS_SELECTOR, "#results li")))
    relevance = results(browser)
    expected = [r["id"] for r in client.get("/search", params={"q": "the cat", "k": 5}).json()["results"]]
    assert relevance == expected
    # Move the slider to the diversity end: the page searches again with diversity 1.
    slider = browser.find_element(By.ID, "diversity")
    browser.execute_script("arguments[0].value = 1; arguments[0].dispatchEvent(new Event('input'));"
                           "arguments[0].dispatchEvent(new Event('change'));", slider)
    assert browser.find_element(By.ID, "diversity-value").text == "1.00"
    diverse = [r["id"] for r in client.get("/search", params={"q": "the cat", "k": 5, "diversity": 1}).json()["results"]]
    wait.until(lambda b: results(b) == diverse)
    assert diverse != relevance


def test_a_refused_query_shows_the_servers_message(server_url, browser):
    from selenium.webdriver.common.by import By

    browser.get(server_url + "/")
    browser.execute_script("document.getElementById('q').removeAttribute('maxlength');"
                           "document.getElementById('q').value = 'x'.repeat(1001);"
                           "document.getElementById('form').requestSubmit();")
    time_limit = time.monotonic() + 30
    while "1000 characters" not in browser.find_element(By.ID, "status").text:
        assert time.monotonic() < time_limit
        time.sleep(0.2)
