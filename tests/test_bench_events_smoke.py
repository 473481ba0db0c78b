"""bench/events.py runs end to end and reports its figures in the documented shape (numbers not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "events.py"
TINY = ["--no-postgres", "--timers", "12", "--spread", "0.5,1", "--poll", "1", "--small", "8", "--waiting", "60",
        "--samples", "3"]


def run_bench(tmp_path, *args):
    proc = subprocess.run([sys.executable, str(BENCH), *TINY, *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_bench_events_json_shape(tmp_path):
    report = json.loads(run_bench(tmp_path, "--json").stdout)
    assert report["settings"]["timers"] == 12 and report["settings"]["waiting"] == 60
    assert report["settings"]["database_url"] is None and report["environment"]["postgresql"] is None
    assert report["scheduler_reference"]["callbacks"] == 12
    [timers] = report["timers"]
    assert timers["backend"] == "sqlite"
    assert timers["timers"]["fired"] == 12 and timers["timers"]["completed"] == 12
    assert set(timers["timers"]["lateness"]) == {"p50_ms", "p99_ms", "max_ms", "mean_ms"}
    [corr] = report["correlation"]
    assert corr["small"]["waiting"] == 8 and corr["large"]["waiting"] == 60
    for side in ("small", "large"):
        assert corr[side]["samples"] == 3 and corr[side]["median_ms"] > 0
        # every timed correlation (and the warm-up) consumed exactly one subscription of a real instance
        assert corr[side]["subscriptions_left"] == corr[side]["waiting"] - 4
    assert corr["ratio"] > 0


def test_bench_events_table(tmp_path):
    table = run_bench(tmp_path).stdout
    assert "A. Timer lateness: 12 intermediate timers" in table
    assert "apscheduler (empty callback)" in table and "within 1 s" in table
    assert "B. correlate_message by business key" in table and "large/small" in table
