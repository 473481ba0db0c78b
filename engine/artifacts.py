"""Artifacts: files attached to an instance (an OpenAPI document, a source archive, a test report).

Each artifact has a name (``openapi.json``: letters, digits, ``.``, ``_``, ``-``, at most 128 characters,
starting with a letter or digit) and versions 1, 2, 3...  A version records its SHA-256, size, media type,
time, and who produced it: the step of an agent (element id and name, job id and attempt) or a person
(user name, ``api`` when nobody is named).  Contents are **content-addressed**: the bytes are stored once per
distinct SHA-256 (in the ``artifact_blobs`` table, or as files in the folder ``Settings.artifact_store``),
however many versions or instances share them.  Storing content equal to the latest version adds no version.

Agents get the latest versions as files (``engine.artifact_files``) and leave new versions in a folder;
those are stored in the same transaction that records the job's result (``complete_job(..., artifacts=)``).
People and external workers upload with ``POST /api/v1/instances/<id>/artifacts``.

Mixed into :class:`engine.runtime.Engine`: :meth:`attach_artifact`, :meth:`artifacts` (latest + history),
:meth:`read_artifact`, :meth:`artifact_refs`, :meth:`delete_artifacts` (blobs nobody uses are removed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact_records import ArtifactFile, ArtifactHistory, ArtifactVersion, Producer, check_name, media_type_of
from .errors import ArtifactNotFound, ArtifactTooLarge, StorageError
from .jobs import retry_conflicts
from .store import artifact_queries as aq
from .store import queries as q

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("baton.artifacts")

DATABASE = "database"


class BlobStore:
    """Where contents live: the ``artifact_blobs`` table, or files ``<folder>/<sha[:2]>/<sha>`` beside it."""

    def __init__(self, setting: str) -> None:
        self.folder = None if setting.strip().lower() in ("", DATABASE) else Path(setting).expanduser()

    def path(self, sha256: str) -> Path:
        assert self.folder is not None
        return self.folder / sha256[:2] / sha256

    def put(self, conn: Connection, sha256: str, content: bytes, now: dt.datetime) -> None:
        """Make sure the content is stored (inside the caller's transaction; a file is written before it commits)."""
        if aq.blob_exists(conn, sha256):
            if self.folder is None or self.path(sha256).is_file():
                return
            self._write(sha256, content)  # the file went missing: put it back
            return
        if self.folder is not None:
            self._write(sha256, content)
        aq.insert_blob(conn, sha256, len(content), None if self.folder is not None else content, now)

    def get(self, conn: Connection, sha256: str) -> bytes:
        row = aq.blob_content(conn, sha256)
        if row is None:
            raise StorageError(f"the content {sha256} of an artifact is missing from the database")
        if row.content is not None:
            return bytes(row.content)
        if self.folder is None:
            raise StorageError(
                f"the content {sha256} is kept in a file store, but BATON_ARTIFACT_STORE is "
                "'database': set it to the folder the artifacts were stored in"
            )
        try:
            return self.path(sha256).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read artifact content {self.path(sha256)}: {exc.strerror or exc}") from exc

    def _write(self, sha256: str, content: bytes) -> None:
        target = self.path(sha256)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)  # atomic: a reader sees the whole file or none
        except OSError as exc:
            raise StorageError(f"cannot write artifact content to {target}: {exc.strerror or exc}") from exc

    def remove(self, sha256: str) -> None:
        if self.folder is not None:
            self.path(sha256).unlink(missing_ok=True)


class ArtifactsMixin:
    """Attach, list, read and remove artifacts (see the module docstring)."""

    # provided by Engine
    settings: Any
    now: Callable[[], dt.datetime]
    _tx: Any
    _instance_row: Any
    blob_store: BlobStore  # set by Engine.__init__ from settings.artifact_store

    def attach_artifact(
        self, instance_id: str, name: str, content: bytes, media_type: str | None = None, user_name: str | None = None
    ) -> ArtifactVersion:
        """Store ``content`` as the next version of ``name`` (a person's or the API's upload); one transaction.

        Content equal to the latest version adds no version: that version is returned.
        """
        files = [ArtifactFile(check_name(name), content, media_type)]
        producer = Producer(user_name=user_name or "api")

        def attach() -> ArtifactVersion:
            with self._tx() as conn:
                self._instance_row(conn, instance_id)
                self._store_artifacts(conn, instance_id, files, producer)
                return ArtifactVersion.from_row(aq.latest_version(conn, instance_id, name))

        version: ArtifactVersion = retry_conflicts(attach)
        log.info(
            "artifact attached",
            extra={"instance_id": instance_id, "artifact": name, "version": version.version, "size": version.size},
        )
        return version

    def _store_artifacts(
        self, conn: Connection, instance_id: str, files: Iterable[ArtifactFile], producer: Producer
    ) -> list[ArtifactVersion]:
        """New versions of ``files`` inside the caller's transaction (with a history event each)."""
        stored = []
        now = self.now()
        for file in files:
            self.check_artifact(file.name, len(file.content))
            sha = hashlib.sha256(file.content).hexdigest()
            latest = aq.latest_version(conn, instance_id, file.name)
            if latest is not None and latest.sha256 == sha:
                continue
            self.blob_store.put(conn, sha, file.content, now)
            version = ArtifactVersion(
                instance_id=instance_id,
                name=file.name,
                version=(latest.version if latest else 0) + 1,
                sha256=sha,
                size=len(file.content),
                media_type=media_type_of(file.name, file.media_type),
                created_at=now,
                **dataclasses.asdict(producer),
            )
            aq.insert_version(conn, dataclasses.asdict(version))
            stored.append(version)
        if stored:
            q.insert_history(
                conn,
                [
                    {
                        "instance_id": instance_id,
                        "at": now,
                        "event": "artifact_stored",
                        "element_id": producer.element_id,
                        "element_name": producer.element_name,
                        "element_type": "job" if producer.job_id else None,
                        "task_id": None,
                        "details": {
                            "artifact": v.name,
                            "version": v.version,
                            "size": v.size,
                            "produced_by": v.produced_by,
                        },
                    }
                    for v in stored
                ],
            )
        return stored

    def check_artifact(self, name: str, size: int) -> None:
        """Raise :class:`ArtifactError` / :class:`ArtifactTooLarge` for a bad name or a size above the limit."""
        check_name(name)
        limit = self.settings.artifact_max_bytes
        if size > limit:
            raise ArtifactTooLarge(
                f"artifact {name!r} is {size} bytes, above the limit of {limit} bytes (BATON_ARTIFACT_MAX_BYTES)",
                name=name,
                size=size,
                limit=limit,
            )

    def artifacts(self, instance_id: str) -> list[ArtifactHistory]:
        """Every artifact of the instance by name, each with its versions newest first."""
        with self._tx() as conn:
            self._instance_row(conn, instance_id)
            rows = aq.list_versions(conn, instance_id)
        by_name: dict[str, list[ArtifactVersion]] = {}
        for row in rows:
            by_name.setdefault(row.name, []).append(ArtifactVersion.from_row(row))
        return [ArtifactHistory(name, versions) for name, versions in by_name.items()]

    def read_artifact(self, instance_id: str, name: str, version: int | None = None) -> tuple[ArtifactVersion, bytes]:
        """A version (the latest when ``version`` is None) and its content."""
        check_name(name)
        with self._tx() as conn:
            self._instance_row(conn, instance_id)
            row = (
                aq.latest_version(conn, instance_id, name)
                if version is None
                else aq.version_row(conn, instance_id, name, version)
            )
            if row is None:
                which = f"artifact {name!r}" if version is None else f"version {version} of artifact {name!r}"
                raise ArtifactNotFound(
                    f"instance {instance_id} has no {which}", instance_id=instance_id, name=name, version=version
                )
            return ArtifactVersion.from_row(row), self.blob_store.get(conn, row.sha256)

    def artifact_refs(self, instance_id: str) -> dict[str, dict[str, Any]]:
        """The latest version of each artifact as an agent's context gives it (URL, no local path)."""
        with self._tx() as conn:
            return {r.name: ArtifactVersion.from_row(r).reference() for r in aq.latest_versions(conn, instance_id)}

    def write_latest_artifacts(self, instance_id: str, folder: Path) -> dict[str, dict[str, Any]]:
        """Write the latest version of each artifact into ``folder`` (file name = artifact name); their references."""
        refs = {}
        with self._tx() as conn:
            for row in aq.latest_versions(conn, instance_id):
                path = folder / row.name
                path.write_bytes(self.blob_store.get(conn, row.sha256))
                refs[row.name] = ArtifactVersion.from_row(row).reference(str(path))
        return refs

    def delete_artifacts(self, instance_id: str) -> int:
        """Remove every artifact version of the instance (and contents no other version uses); how many."""
        with self._tx() as conn:
            self._instance_row(conn, instance_id)
            count = len(aq.list_versions(conn, instance_id))
            gone = self._delete_artifact_rows(conn, instance_id)
        self._forget_blobs(gone)
        log.info("artifacts deleted", extra={"instance_id": instance_id, "versions": count})
        return count

    def _delete_artifact_rows(self, conn: Connection, instance_id: str) -> list[str]:
        """Delete the instance's versions inside the caller's transaction; the blob keys to forget after commit."""
        return aq.delete_unreferenced_blobs(conn, aq.delete_versions(conn, instance_id))

    def _forget_blobs(self, shas: list[str]) -> None:
        """After the commit: remove the files of deleted blobs (unless a new version stored them again)."""
        if self.blob_store.folder is None or not shas:
            return
        with self._tx() as conn:
            for sha in shas:
                if not aq.blob_exists(conn, sha):
                    self.blob_store.remove(sha)
