"""bench/jobs.py runs end to end and reports its figures in the documented shape (numbers not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "jobs.py"


def run_bench(tmp_path, *args):
    proc = subprocess.run([sys.executable, str(BENCH), "--no-postgres", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_bench_jobs_quick_json_shape(tmp_path):
    proc = run_bench(tmp_path, "--quick", "--json", "--instances", "2", "--rounds", "2", "--warmup", "1",
                     "--round-trips", "10")
    report = json.loads(proc.stdout)
    assert report["settings"]["instances"] == 2 and report["settings"]["rounds"] == 2
    assert report["settings"]["round_trips"] == 10 and report["settings"]["process"] == "bench_service"
    assert report["settings"]["database_url"] is None
    assert report["environment"]["postgresql"] is None
    assert report["logged_problems"] == 0
    assert [(r["backend"], r["worker"]) for r in report["jobs"]] == [("sqlite", "threads"), ("sqlite", "run_once")]
    for row in report["jobs"]:
        for name in ("raw_jobs_per_s", "baton_jobs_per_s", "ratio", "ratio_min", "ratio_max", "cpu_ratio"):
            assert isinstance(row[name], float) and row[name] > 0, name
        assert isinstance(row["conflicts"], int)
        assert all(len(row["rounds"][v]) == 2 for v in ("raw", "baton"))
    assert report["jobs"][0]["threads"] == 4 and report["jobs"][1]["threads"] is None
    [trip] = report["round_trip"]
    assert trip["backend"] == "sqlite"
    for path in ("http", "in_process"):
        assert trip[path]["samples"] == 10 and trip[path]["empty_fetches"] == 0
        for part in ("round_trip", "fetch", "complete"):
            figures = trip[path][part]
            assert set(figures) == {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms"}
            assert all(isinstance(v, float) and v > 0 for v in figures.values()), (path, part)
    for name in ("ratio_p50", "ratio_p99"):
        assert isinstance(trip[name], float) and trip[name] > 0
    assert isinstance(trip["added_p50_ms"], float)


def test_bench_jobs_table_and_profile(tmp_path):
    table = run_bench(tmp_path, "--instances", "1", "--rounds", "1", "--warmup", "0", "--round-trips", "4").stdout
    assert "baton/raw" in table and "threads (4)" in table and "run_once" in table
    assert "HTTP fetch-and-lock -> complete" in table and "p99 ms" in table
    profile = run_bench(tmp_path, "--profile", "20", "--warmup", "1").stdout
    assert "Profile of the job path on sqlite: 20 jobs" in profile
    for phase in ("claim: Engine.claim_jobs", "complete: Engine.complete_job", "load state", "save: Engine._save",
                  "SQL: driver cursor.execute"):
        assert phase in profile, phase
