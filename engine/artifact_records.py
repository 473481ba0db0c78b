"""What an artifact is, as records: names, media types, versions, who produced them (see ``engine.artifacts``)."""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ArtifactError
from .records import Record, _from_row

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_NAME = re.compile(NAME_PATTERN)
DEFAULT_MEDIA_TYPE = "application/octet-stream"
_EXTRA_TYPES = {
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
}


def check_name(name: Any) -> str:
    """``name`` if it is a valid artifact name, else :class:`ArtifactError` saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name[:60]) if isinstance(name, str) else type(name).__name__
        raise ArtifactError(
            f"{shown} is not a valid artifact name: use 1 to 128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (like openapi.json)",
            name=str(name)[:60],
        )
    return name


def media_type_of(name: str, given: str | None = None) -> str:
    """The media type to record: ``given`` (from an upload) when specific, else guessed from the name."""
    if given and given.strip() and given.split(";")[0].strip() != DEFAULT_MEDIA_TYPE:
        return given.strip()[:255]
    if name.endswith(".tar.gz"):
        return "application/gzip"
    suffix = os.path.splitext(name)[1].lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0] or DEFAULT_MEDIA_TYPE


def artifact_url(instance_id: str, name: str, version: int) -> str:
    """Where the REST API serves this version (relative to the server)."""
    return f"/api/v1/instances/{instance_id}/artifacts/{name}?version={version}"


@dataclass(frozen=True)
class ArtifactFile:
    """New content for the artifact ``name`` (media type guessed from the name when not given)."""

    name: str
    content: bytes
    media_type: str | None = None


@dataclass(frozen=True)
class Producer:
    """Who produced a version: an agent's step (element, job, attempt) or a person (``user_name``)."""

    element_id: str | None = None
    element_name: str | None = None
    job_id: str | None = None
    attempt: int | None = None
    user_name: str | None = None

    @classmethod
    def of_job(cls, job: Any) -> Producer:
        return cls(element_id=job.element_id, element_name=job.element_name, job_id=job.id, attempt=job.attempt)


@dataclass(frozen=True)
class ArtifactVersion(Record):
    """One stored version of an artifact."""

    instance_id: str
    name: str
    version: int
    sha256: str
    size: int
    media_type: str
    created_at: dt.datetime | None
    element_id: str | None = None
    element_name: str | None = None
    job_id: str | None = None
    attempt: int | None = None
    user_name: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> ArtifactVersion:
        return _from_row(cls, row)  # type: ignore[no-any-return]

    @property
    def produced_by(self) -> str:
        """The element id of the agent's step, else the person's name, else ``api``."""
        return self.element_id or self.user_name or "api"

    @property
    def url(self) -> str:
        return artifact_url(self.instance_id, self.name, self.version)

    def reference(self, path: str | None = None) -> dict[str, Any]:
        """What an agent's context says about this version (``path`` where it was written for a local agent)."""
        ref: dict[str, Any] = {"path": path} if path is not None else {}
        ref.update(
            url=self.url,
            version=self.version,
            sha256=self.sha256,
            size=self.size,
            media_type=self.media_type,
            produced_by=self.produced_by,
        )
        return ref

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "produced_by": self.produced_by, "url": self.url}


@dataclass(frozen=True)
class ArtifactHistory(Record):
    """An artifact of an instance: its newest version and every version, newest first."""

    name: str
    versions: list[ArtifactVersion] = field(default_factory=list)

    @property
    def latest(self) -> ArtifactVersion:
        return self.versions[0]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "latest": self.latest.to_dict(), "versions": [v.to_dict() for v in self.versions]}
