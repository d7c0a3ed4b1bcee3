"""The web console (SPEC §6) in a real browser: Debian's headless Chromium, driven by
selenium through chromium-driver, against `sendingip serve` started as an operator starts it.

An operator signs in with a key, opens an account from the list, reads the Sending IP
Addresses table, pauses its warm-up and sees the audit event; a key limited to another
account is refused that account's page. One browser for the module, a few pages each.

``SENDINGIP_SCREENSHOTS=docs/img`` also saves the main pages as ``console-*.png`` there
(the images in docs/operations.md and the README).

Without Chromium the tests are skipped, except under CI (``CI=true``), where they fail:
``.ci/run`` installs it (``chromium``, ``chromium-driver``) when it runs as root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from server.auth.store import create_key
from store.database import connect
from tests.support.console import seed
from tests.support.databases import DatabaseFactory
from tests.support.processes import ServerProcess, sendingip_env

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass
class Console:
    base: str
    admin: str
    #: view, limited to the account "other"
    scoped: str
    dedicated_ip: str


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        message = f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; .ci/run installs them when run as root")
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root (NOTES.md)
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
async def console(
    pg_server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    databases = DatabaseFactory(pg_server_url, template_db)
    try:
        url = await databases.create()
        dedicated_ip = await seed(url)
        async with connect(url) as db:
            admin, _ = await create_key(db, ["view", "admin"], None)
            scoped, _ = await create_key(db, ["view"], ["other"])
        data_dir = tmp_path_factory.mktemp("console-serve")
        server = ServerProcess(
            sendingip_env(url, SENDINGIP_DATA_DIR=str(data_dir), SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"]
        )
        try:
            port = int(server.wait_line(r"http listen=127\.0\.0\.1:(\d+)")[1])
            yield Console(f"http://127.0.0.1:{port}", admin.token, scoped.token, dedicated_ip)
        finally:
            server.stop()
        assert "Traceback" not in server.output, server.output
    finally:
        await databases.drop_all()


def _screenshot(driver: WebDriver, name: str) -> None:
    folder = os.environ.get("SENDINGIP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        _full_height(driver)
        driver.save_screenshot(str(Path(folder) / f"console-{name}.png"))


def _full_height(driver: WebDriver) -> None:
    driver.set_window_size(1360, 600)  # scrollHeight is at least the viewport's: measure from small
    height, chrome = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(1360, min(int(height) + int(chrome) + 8, 3000))


def _at(driver: WebDriver, path: str) -> None:
    """Wait until the browser shows ``path`` (a click on a link or a button returns before the next page is in)."""
    WebDriverWait(driver, 10).until(lambda d: d.current_url.split("?")[0].endswith(path), f"never reached {path}")


#: ChromeDriver's words when the page was replaced between finding an element and reading it,
#: reported as an "unknown error" instead of a stale element (seen in CI).
_NODE_GONE = "does not belong to the document"


def _text_becomes(driver: WebDriver, element_id: str, text: str) -> None:
    """Wait for the element's text; the page may be replaced between finding it and reading it
    (a POST answered by a redirect), which is tried again, as a missing element is."""

    def shows_text(d: WebDriver) -> bool:
        try:
            return bool(d.find_element(By.ID, element_id).text == text)
        except WebDriverException as exc:
            if _NODE_GONE in (exc.msg or ""):
                return False
            raise

    WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        shows_text, f"#{element_id} != {text}"
    )


def _sign_in(driver: WebDriver, console: Console, key: str) -> None:
    d = driver
    d.delete_all_cookies()  # signed out, whatever an earlier test left
    d.get(console.base + "/")
    _at(d, "/console/sign-in")
    d.find_element(By.ID, "api-key").send_keys(key)
    d.find_element(By.ID, "sign-in").click()
    _at(d, "/console/accounts")


def _cells(driver: WebDriver, table_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_an_operator_opens_an_account_reads_its_table_and_pauses_its_warmup(
    browser: WebDriver, console: Console
) -> None:
    d = browser
    _sign_in(d, console, console.admin)
    cookie = d.get_cookie("sip_console")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert [row[0] for row in _cells(d, "accounts")] == ["acme", "other"]
    _screenshot(d, "accounts")

    d.find_element(By.LINK_TEXT, "acme").click()
    _at(d, "/console/accounts/acme")
    assert d.find_element(By.ID, "account-id").text == "acme"
    rows = {row[0]: row for row in _cells(d, "sending-ips")}
    assert rows[console.dedicated_ip][1:5] == ["us-east", "dedicated:acme", "Dedicated", "In Progress"]
    assert rows["192.0.2.1"][1:5] == ["us-east", "general:us-east", "General", "Active"]
    assert d.find_element(By.ID, "management-type").text == "Transition"
    assert d.find_element(By.ID, "reason").text.strip() not in ("", "-")
    charts = d.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert {"google", "microsoft"} <= {c.get_attribute("data-provider") for c in charts}
    assert d.find_element(By.ID, "warmup-state").text == "running"
    _screenshot(d, "account")

    d.find_element(By.ID, "pause-warmup").click()
    _text_becomes(d, "warmup-state", "PAUSED")
    assert d.current_url.endswith("/console/accounts/acme")
    key_id = console.admin.split("_")[1]
    assert _cells(d, "audit-events")[0][1:4] == [key_id, "PauseWarmup", "acme"]
    assert d.find_elements(By.ID, "resume-warmup")

    d.find_element(By.LINK_TEXT, "Audit log").click()
    _at(d, "/console/audit")
    assert [key_id, "PauseWarmup", "acme"] in [row[1:4] for row in _cells(d, "audit-events")]
    _screenshot(d, "audit")
    d.find_element(By.PARTIAL_LINK_TEXT, "inventory").click()
    _at(d, "/console/inventory")
    assert "us-east" in [row[0] for row in _cells(d, "regions")]
    _screenshot(d, "inventory")
    d.find_element(By.ID, "sign-out").click()
    _at(d, "/console/sign-in")
    assert d.get_cookie("sip_console") is None


def test_a_scoped_key_is_refused_another_tenants_page(browser: WebDriver, console: Console) -> None:
    d = browser
    d.set_window_size(1360, 1000)
    _sign_in(d, console, console.scoped)
    assert [row[0] for row in _cells(d, "accounts")] == ["other"]
    d.get(console.base + "/console/accounts/acme")
    assert d.find_element(By.TAG_NAME, "h1").text == "403 · PERMISSION_DENIED"
    assert "may not access account 'acme'" in d.find_element(By.ID, "error-message").text
