"""The conformance corpus (tests/corpus) against its restated expectations (tests/conformance/*.toml).

The whole corpus runs once per module on SQLite, in-process; a small sample runs on PostgreSQL too.  A file that
misses its expectation fails the suite unless its entry records ``known_miss = "reason"``; a known miss that
passes now fails too, so the mark is removed and the gain is kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.conformance import Report, load_expectations, load_manifest, run_corpus

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
EXPECTATIONS = ROOT / "conformance"
PG_SAMPLE = ("ParallelGatewayTest.testForkFollowedByOnlyEndEvents", "SubProcessTest.testSimpleSubProcessWithTimer",
             "SubProcessTest.testNestedSimpleSubProcess", "BpmnParseTest.testInvalidTransactionWithErrorStartEvent",
             "miwg/reference/A.4.0.bpmn")


@pytest.fixture(scope="module")
def report() -> Report:
    return run_corpus(CORPUS, EXPECTATIONS)


def _describe(outcomes) -> str:
    return "\n".join(f"{o.file}: {o.detail or 'passes now: remove its known_miss'}" for o in outcomes)


def test_every_manifest_row_has_an_expectation():
    entries = load_expectations(EXPECTATIONS)
    files = [row["file"] for row in load_manifest(CORPUS)]
    assert all((CORPUS / f).is_file() for f in files)
    assert [f for f in entries if f not in files] == []  # no entry for a file that is not in the corpus
    assert [f for f in files if f not in entries] == []


def test_every_miwg_file_imports(report):
    miwg = [o for o in report.outcomes if o.file.startswith("miwg/")]
    assert len(miwg) == 63
    drawings = [o for o in miwg if o.expect == "drawing"]
    assert drawings and all(o.deployed for o in drawings)
    assert _describe(o for o in miwg if not o.deployed and not o.known_miss) == ""


def test_no_unexpected_miss(report):
    """Every entry passes, or misses for its recorded reason; a recorded miss that passes now must lose its mark."""
    assert _describe(o for o in report.unexpected if o.expect is not None) == ""


def test_rejections_name_the_reason(report):
    rejected = [o for o in report.outcomes if o.rejected]
    assert rejected
    assert all(o.as_expected and o.detail for o in rejected)


@pytest.mark.postgres
def test_sample_on_postgresql(pg_schema_url):
    sample = run_corpus(CORPUS, EXPECTATIONS, database=pg_schema_url,
                        only=lambda name: any(s in name for s in PG_SAMPLE))
    assert len(sample.outcomes) == len(PG_SAMPLE)
    assert _describe(o for o in sample.outcomes if o.missed) == ""


def test_cli_writes_the_table_and_fails_on_a_miss(tmp_path):
    expectations = tmp_path / "conformance"
    expectations.mkdir()
    (expectations / "gateway.toml").write_text(
        '[[model]]\nfile = "camunda7/bpmn/gateway/ParallelGatewayTest.testForkFollowedByOnlyEndEvents.bpmn20.xml"\n'
        'expect = "run"\nsteps = [{ status = "completed" }]\n\n'
        '[[model]]\nfile = "camunda7/bpmn/gateway/ParallelGatewayTest.testNestedForksFollowedByEndEvents.bpmn20.xml"\n'
        'expect = "run"\nsteps = [{ status = "completed" }, { tasks = ["end1"] }]\n')
    page = tmp_path / "conformance.md"
    args = ["conformance", str(CORPUS), "--expectations", str(expectations), "--only", "ParallelGatewayTest.testNested",
            "--write", str(page)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "MISS camunda7/bpmn/gateway/ParallelGatewayTest.testNestedForksFollowedByEndEvents" in result.output
    assert "step 2: open tasks are [], expected ['end1']" in result.output
    text = page.read_text()
    assert "| gateway | 1 | 1 | 1 | 0 | 0 | 1 | 0 |" in text
    assert "baton conformance tests/corpus" in text

    args[5] = "ParallelGatewayTest.testFork"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| gateway | 1 | 1 | 1 | 1 | 0 | 0 | 0 |" in page.read_text()
