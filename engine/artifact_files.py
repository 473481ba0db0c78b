"""Artifacts as files for one agent call: the inputs written out, the outputs collected, the folder removed.

Before a local agent (``command`` or ``python`` adapter) runs, :func:`call_folders` writes the latest version of
each artifact of the instance into a fresh folder ``.../in`` (file name = artifact name) and makes an empty
folder ``.../out``; the context carries both (``BATON_ARTIFACTS_DIR`` / ``BATON_ARTIFACTS_OUT`` for commands,
``context.artifacts_dir`` / ``context.artifacts_out`` for Python functions) and ``context.artifacts`` maps each
name to its path, URL, version, SHA-256, size, media type and producer.  After the call,
:func:`collect_outputs` reads every regular top-level file left in ``out`` (names starting with ``.`` are
ignored, as temporary files); the worker stores them with the job's result.  Both folders are removed when the
call is over, whatever happened.  Remote agents (``http``) get the references with URLs only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifact_records import ArtifactFile, check_name
from .errors import AgentFailure, ArtifactError


@dataclass
class CallFolders:
    """The artifacts of one call: references for the context, and the two folders (None for remote agents)."""

    refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_dir: Path | None = None
    output_dir: Path | None = None


@contextmanager
def call_folders(engine: Any, instance_id: str, local: bool) -> Iterator[CallFolders]:
    """Prepare the artifacts of a call on ``instance_id``; the folders are gone when the block ends."""
    if not local:
        yield CallFolders(refs=engine.artifact_refs(instance_id))
        return
    root = Path(tempfile.mkdtemp(prefix=f"baton-artifacts-{instance_id[:8]}-"))
    try:
        inputs, outputs = root / "in", root / "out"
        inputs.mkdir()
        outputs.mkdir()
        yield CallFolders(refs=engine.write_latest_artifacts(instance_id, inputs), input_dir=inputs, output_dir=outputs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def collect_outputs(folder: Path | None, limit: int) -> list[ArtifactFile]:
    """The files an agent left in ``folder``; a bad name or a file above ``limit`` bytes fails the call for good."""
    if folder is None or not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                check_name(entry.name)
            except ArtifactError as exc:
                raise AgentFailure(
                    f"the agent left {entry.name!r} in BATON_ARTIFACTS_OUT: {exc}", retryable=False, file=entry.name
                ) from exc
            size = entry.stat(follow_symlinks=False).st_size
            if size > limit:
                raise AgentFailure(
                    f"the agent left {entry.name!r} in BATON_ARTIFACTS_OUT: {size} bytes, above the "
                    f"artifact size limit of {limit} bytes (BATON_ARTIFACT_MAX_BYTES)",
                    retryable=False,
                    file=entry.name,
                    size=size,
                    limit=limit,
                )
            found.append(ArtifactFile(entry.name, Path(entry.path).read_bytes()))
    return found
