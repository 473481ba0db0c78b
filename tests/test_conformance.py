"""The conformance corpus (tests/corpus) against its restated expectations (tests/conformance/*.toml).

The whole corpus runs once per session on SQLite, in-process; a small sample runs on PostgreSQL.  A file that
misses its expectation fails the suite unless its entry records ``known_miss = "reason"``; a known miss that
passes now fails too, so the mark is removed and the gain is kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.conformance import Report, load_expectations, load_manifest, run_corpus
from engine.conformance_report import markdown

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
EXPECTATIONS = ROOT / "conformance"


@pytest.fixture(scope="module")
def report() -> Report:
    return run_corpus(CORPUS, EXPECTATIONS)


def _describe(outcomes) -> str:
    return "\n".join(f"{o.file}: {o.detail or 'passes now: remove its known_miss'}" for o in outcomes)


def test_every_manifest_row_has_an_expectation():
    entries = load_expectations(EXPECTATIONS)
    files = [row["file"] for row in load_manifest(CORPUS)]
    assert [f for f in files if f not in entries] == []
    assert [f for f in entries if f not in files] == []  # no entry for a file that is not in the corpus
    assert all((CORPUS / f).is_file() for f in files)


def test_every_miwg_file_imports(report):
    miwg = [o for o in report.outcomes if o.file.startswith("miwg/")]
    assert len(miwg) == 63
    assert _describe(o for o in miwg if not o.deployed) == ""


def test_no_unexpected_miss(report):
    assert _describe(report.unexpected) == ""
