"""The report page in a real browser: Debian's headless Chromium opens it from file:// with the network off.

Skipped, with the reason, only where no browser can be installed (`.ci/run` installs chromium and
chromium-driver with apt-get). Driven by Selenium through /usr/bin/chromedriver: the driver is given, so
Selenium Manager never looks for (or downloads) one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_dirs import HOSTILE, write_report_dir

from clue_checks.report.write.html import write_html

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.slow  # the browser and its driver are processes
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    binary = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no headless Chromium here: apt-get install -y chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", "--window-size=1400,1800",
                 "--host-resolver-rules=MAP * ~NOTFOUND",  # the network is off: no name resolves
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: webdriver.Chrome, page: Path) -> None:
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.clueReady !== undefined"))


def shown_rows(driver: webdriver.Chrome) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#rows tr"))


def count(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.ID, "count").text


def test_the_page_filters_opens_a_sample_and_shows_hostile_text_as_text(browser, tmp_path):
    report_dir = write_report_dir(tmp_path / "clue-report", {"mednli": 9, "meqsum": 6, "longhealth-t3": 6,
                                                             "medisumcode": 3}, hostile=3, comparison=True)
    open_page(browser, write_html(report_dir))

    assert browser.find_elements(By.CSS_SELECTOR, '#scores svg[aria-label="task scores with 95% intervals"] rect.bar')
    assert len(browser.find_elements(By.CSS_SELECTOR, "#kinds figure.kinds svg")) == 4
    assert browser.find_elements(By.CSS_SELECTOR, "#comparison svg")
    assert count(browser) == "24 of 24 samples" and shown_rows(browser) == 24

    text = browser.find_element(By.ID, "f-text")
    text.send_keys("s00003")
    assert count(browser) == "3 of 24 samples" and shown_rows(browser) == 3  # not in medisumcode (3 samples)
    Select(browser.find_element(By.ID, "f-task")).select_by_value("mednli")
    assert count(browser) == "1 of 24 samples"
    text.clear()
    text.send_keys(" ")  # an input event with an empty query: every mednli sample
    assert count(browser) == "9 of 24 samples"
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("hedged")
    assert count(browser) == "1 of 24 samples"

    browser.find_element(By.CSS_SELECTOR, "#rows tr").click()  # s00003: the hostile reply
    detail = browser.find_element(By.ID, "detail")
    assert detail.find_element(By.TAG_NAME, "h3").text == "mednli:s00003"
    assert "<script>window.__pwned=1</script>" in detail.text and "<img src=x onerror=" in detail.text
    assert browser.execute_script("return window.__pwned") is None
    assert browser.execute_script("return document.querySelectorAll('#detail script, #detail img').length") == 0
    assert browser.execute_script("return document.querySelectorAll('body img').length") == 0
    assert detail.find_elements(By.CSS_SELECTOR, "mark.miss") and detail.find_elements(By.CSS_SELECTOR, "mark.extra")
    assert "baseline answer 3" in detail.text

    Select(browser.find_element(By.ID, "f-kind")).select_by_value("")
    Select(browser.find_element(By.ID, "f-sort")).select_by_value("accuracy")
    browser.find_element(By.ID, "f-desc").click()
    values = [float(td.text) for td in browser.find_elements(By.CSS_SELECTOR, "#rows td.num")]
    assert values == sorted(values, reverse=True) and len(values) == 9

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []  # no script error, and no refused fetch: nothing tried the network
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    assert HOSTILE  # the reply the page had to show as text


def test_ten_thousand_samples_load_filter_and_open(browser, tmp_path, record_property):
    """The worst case: every prompt its own from the first character, as LongHealth's documents, a 26 MB page.
    The time to interactive (about 1.3-1.8 s on a busy 2-core machine) is recorded in the JUnit file, not
    asserted: a shared CI machine's speed is not the page's."""
    report_dir = write_report_dir(tmp_path / "big", {"mednli": 2_500, "meqsum": 2_500, "longhealth-t3": 2_500,
                                                     "medisumcode": 2_500}, prompt_chars=6_000)
    open_page(browser, write_html(report_dir))
    ready_ms = browser.execute_script("return window.clueReady")
    assert count(browser) == "10000 of 10000 samples" and shown_rows(browser) == 100
    record_property("page_interactive_ms", round(ready_ms))
    browser.find_element(By.ID, "f-text").send_keys("s01234")
    assert count(browser) == "4 of 10000 samples"
    browser.find_element(By.CSS_SELECTOR, "#rows tr").click()
    assert browser.find_element(By.CSS_SELECTOR, "#detail h3").text == "mednli:s01234"


# -- a page built by a real run ------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
SCRIPT_REPLY = "<script>window.__pwned=1</script> neutral. The correct answer is A: <b>bold</b>"


def _chat(method, path, body, count):  # a vLLM-shaped server whose model replies with markup
    if path == "/health":
        return 200, {}, b""
    if path == "/v1/models":
        return 200, {}, {"object": "list", "data": [{"id": "fake/model", "object": "model", "owned_by": "vllm",
                                                     "max_model_len": 16384}]}
    if path == "/v1/chat/completions":
        return 200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": SCRIPT_REPLY},
                                      "finish_reason": "stop"}], "usage": {"completion_tokens": 9, "prompt_tokens": 99}}
    return 404, {}, {"error": "not found"}


def test_a_real_runs_page_shows_a_script_reply_as_text(browser, tmp_path):
    import subprocess
    import sys

    from fakes import FakeServer

    shutil.copytree(REPO / "tests_clinical", tmp_path / "tests_clinical")
    shutil.copy(REPO / "pytest.ini", tmp_path / "pytest.ini")
    shutil.copy(REPO / "thresholds.toml", tmp_path / "thresholds.toml")
    with FakeServer(_chat) as server:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", f"--model-endpoint={server.url}", "--clue-tasks=mednli,longhealth-t3",
             "--clue-limit=2", f"--clue-tokenizer={REPO / 'clue_checks' / 'server' / 'baseline_tokenizer'}",
             f"--clue-data={REPO / 'clue_checks' / 'fixtures'}", "--clue-no-cache", "-q", "--tb=no", "-p", "no:randomly"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    page = tmp_path / "clue-report" / "index.html"
    assert page.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    open_page(browser, page)
    assert browser.find_elements(By.CSS_SELECTOR, '#scores svg[aria-label="task scores with 95% intervals"] rect.bar')
    assert len(browser.find_elements(By.CSS_SELECTOR, "#kinds figure.kinds svg")) == 2
    assert count(browser) == "4 of 4 samples"
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("unanswerable_missed")
    assert count(browser) == "2 of 4 samples"  # task 3's answer is F; the reply says A
    browser.find_element(By.CSS_SELECTOR, "#rows tr").click()
    detail = browser.find_element(By.ID, "detail")
    assert SCRIPT_REPLY in detail.text and "unanswerable_missed" in detail.text
    assert browser.execute_script("return window.__pwned") is None
    assert browser.execute_script("return document.querySelectorAll('#detail script, #detail b').length") == 0
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.save_screenshot(str(tmp_path / "real-run.png"))
