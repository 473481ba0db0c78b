"""A command agent for the artifact tests: reads the artifact ``notes.txt``, writes its next version.

Variables: ``line`` (text appended to notes.txt), ``fail_first`` (exit 1 on attempt 1, after writing outputs),
``big`` (also write ``big.bin`` of that many bytes).  Prints what it saw as output variables.
"""

import json
import os
import sys
from pathlib import Path

request = json.load(sys.stdin)
variables, context = request["variables"], request["context"]
inputs, outputs = Path(os.environ["BATON_ARTIFACTS_DIR"]), Path(os.environ["BATON_ARTIFACTS_OUT"])
notes = inputs / "notes.txt"
before = notes.read_text() if notes.is_file() else ""
(outputs / "notes.txt").write_text(before + variables.get("line", "") + "\n")
(outputs / ".scratch").write_text("temporary files starting with a dot are ignored")
if variables.get("big"):
    (outputs / "big.bin").write_bytes(b"x" * int(variables["big"]))
if variables.get("fail_first") and context["attempt"] == 1:
    print("failing on purpose after writing the outputs", file=sys.stderr)
    sys.exit(1)
seen = context["artifacts"].get("notes.txt")
print(
    json.dumps(
        {
            "seen_version": seen["version"] if seen else 0,
            "seen_path_matches": bool(seen) and seen["path"] == str(notes),
            "seen_text": before,
            "python": os.environ["BATON_PYTHON"],
        }
    )
)
