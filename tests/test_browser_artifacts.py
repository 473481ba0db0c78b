"""The instance page's Artifacts section in a real headless Chromium: upload through the form, see the versions
two command agents produced after it, open the history, download a version; screenshots in ``test-artifacts/``
(``artifacts-*.png``) and, when ``BATON_SHOTS`` names a folder, there too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_artifacts import SCRIBE, TWO_STEPS, drain
from test_browser import ARTIFACTS, browser, chromium_path  # noqa: F401  (fixtures)
from test_browser_ops import ops_site, page, sign_in  # noqa: F401  (fixtures)

from engine.worker import Worker

pytestmark = pytest.mark.browser


def shot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"artifacts-{name}.png"), full_page=True)
    if os.environ.get("BATON_SHOTS"):
        Path(os.environ["BATON_SHOTS"]).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(os.environ["BATON_SHOTS"]) / f"artifacts-{name}.png"), full_page=True)


def test_upload_then_agents_add_versions_and_the_history_downloads(page, ops_site, tmp_path):  # noqa: F811
    site, engine = ops_site, ops_site["engine"]
    engine.deploy_bytes([("notes.bpmn", TWO_STEPS)])
    inst = engine.start("notes", {"line": "reviewed by the scribe agent"})
    sign_in(page, site)
    page.goto(f"{site['url']}/instances/{inst.id}")
    section = page.locator("#instance-artifacts")
    assert "No artifacts yet" in section.inner_text()

    (tmp_path / "notes.txt").write_text("first draft\n")
    section.locator("summary", has_text="Attach a file").click()
    section.locator('input[type="file"]').set_input_files(str(tmp_path / "notes.txt"))
    shot(page, "upload")
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
