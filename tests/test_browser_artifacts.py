"""The instance page's Artifacts section in a real headless Chromium: upload through the form, see the versions
two command agents produced after it, open the history, download a version; screenshots in ``test-artifacts/``
(``artifacts-*.png``) and, when ``BATON_SHOTS`` names a folder, there too."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from test_artifacts import SCRIBE, TWO_STEPS, drain
from test_browser import ARTIFACTS, VIEWPORT, browser, chromium_path, login  # noqa: F401  (fixtures)
from werkzeug.serving import make_server

from engine import Engine, Settings
from engine.worker import Worker
from web import create_app

pytestmark = pytest.mark.browser
ADMIN = ("admin", "admin-password")


@pytest.fixture
def site(tmp_path, sqlite_template):
    path = tmp_path / "baton.db"
    shutil.copy(sqlite_template, path)
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.add_user(*ADMIN[:1], "admin", ADMIN[1])
    server = make_server("127.0.0.1", 0, create_app({"SECRET_KEY": "browser tests"}, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-artifacts-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "engine": engine}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine.close()


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"artifacts-{name}.png"), full_page=True)
    if os.environ.get("BATON_SHOTS"):
        Path(os.environ["BATON_SHOTS"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["BATON_SHOTS"]) / f"artifacts-{name}.png"), full_page=True)


def test_upload_then_agents_add_versions_and_the_history_downloads(page, site, tmp_path):
    engine = site["engine"]
    engine.deploy_bytes([("notes.bpmn", TWO_STEPS)])
    inst = engine.start("notes", {"line": "reviewed by the scribe agent"})
    login(page, site["url"], *ADMIN)
    page.goto(f"{site['url']}/instances/{inst.id}")
    section = page.locator("#instance-artifacts")
    assert "No artifacts yet" in section.inner_text()

    (tmp_path / "notes.txt").write_text("first draft\n")
    section.locator("summary", has_text="Attach a file").click()
    section.locator('input[type="file"]').set_input_files(str(tmp_path / "notes.txt"))
    section.get_by_role("button", name="Attach").click()
    page.wait_for_url(lambda u: "done=artifact" in u)
    assert page.get_by_role("status").inner_text() == "Artifact attached."
    row = page.locator('tr[data-artifact="notes.txt"]')
    assert "v1" in row.inner_text() and "admin" in row.inner_text()

    assert drain(engine, Worker(engine, {"scribe": SCRIBE}), inst.id) == "completed"
    page.goto(f"{site['url']}/instances/{inst.id}")
    row = page.locator('tr[data-artifact="notes.txt"]')
    text = row.inner_text()
    assert "v3" in text and "Call scribe" in text and "S2" in text and "text/plain" in text
    history = page.locator('tr[data-artifact-history="notes.txt"]')
    history.locator("summary").click()
    older = history.locator("tr[data-version]")
    assert older.count() == 2
    assert "S1" in older.nth(0).inner_text() and "admin" in older.nth(1).inner_text()
    page.locator("#instance-artifacts").scroll_into_view_if_needed()
    shot(page, "instance")

    with page.expect_download() as info:
        older.nth(1).get_by_role("link", name="Download notes.txt version 1").click()
    download = info.value
    assert download.suggested_filename == "notes.txt"
    assert Path(download.path()).read_text() == "first draft\n"
    with page.expect_download() as info:
        row.get_by_role("link").click()
    assert Path(info.value.path()).read_text() == (
        "first draft\nreviewed by the scribe agent\nreviewed by the scribe agent\n"
    )
