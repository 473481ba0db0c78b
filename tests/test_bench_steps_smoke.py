"""bench/steps.py runs end to end and reports its figures in the documented shape (numbers not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_steps_json_shape(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "steps.py"), "--steps", "300", "--repeat", "2", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["goal"] == 1.5 and isinstance(report["passed"], bool)
    assert report["settings"] == {"steps": 300, "repeat": 2}
    rows = {r["variant"]: r for r in report["steps"]}
    assert list(rows) == ["baton (sqlite)", "baton (sqlite), side by side", "baton (sqlite), one call",
                          "raw+pruning", "raw"]
    assert rows["baton (sqlite), side by side"]["late"] == [301, 400]
    assert rows["baton (sqlite)"]["late"] == [201, 300] and rows["raw"]["late"] == [201, 300]
    for row in rows.values():
        assert row["early"] == [101, 200]
        assert row["early_ms"] > 0 and row["late_ms"] > 0 and row["ratio"] > 0
    assert rows["raw"]["goal"] is None and rows["raw+pruning"]["goal"] == 1.5
    assert isinstance(rows["baton (sqlite)"]["cpu_ratio"], float)
    [state] = report["state"]
    assert state["backend"] == "sqlite" and state["state_100"] > 0 and state["state_last"] > 0
    assert state["load_save_10_ms"] > 0 and state["load_save_ratio"] > 0 and state["load_save_paired_ratio"] > 0
    assert state["load_save_paired_cpu_ratio"] > 0
    # raw SpiffWorkflow's own growth and its silent stop are part of the report
    assert report["raw_state"]["state_300"] > report["raw_state"]["state_100"]
    assert "stopped after" in report["raw_state"]["beyond_300"]
