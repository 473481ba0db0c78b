"""The benchmark runs end to end and reports its figures in the documented shape (numbers not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_json_shape(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json",
         "--instances", "2", "--rounds", "2", "--warmup", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["goal"] == 0.4
    assert isinstance(report["passed"], bool)
    assert report["settings"]["instances"] == 2 and report["settings"]["rounds"] == 2
    assert [(r["process"], r["backend"]) for r in report["results"]] == [
        ("bench_sequence", "sqlite"), ("bench_parallel", "sqlite")]
    for row in report["results"]:
        for name in ("raw_per_s", "raw_sandbox_per_s", "baton_per_s", "ratio", "cpu_ratio"):
            assert isinstance(row[name], float) and row[name] > 0, name
        assert row["goal"] == 0.4 and isinstance(row["passed"], bool)
        assert all(len(row["rounds"][v]) == 2 for v in ("raw", "raw_sandbox", "baton"))
