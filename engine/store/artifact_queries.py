"""The SQL of artifacts: content-addressed blobs and the versions that point at them."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, exists, func, insert, select

from .tables import Artifact, ArtifactBlob

artifacts = cast(Table, Artifact.__table__)
blobs = cast(Table, ArtifactBlob.__table__)


def latest_version(conn: Connection, instance_id: str, name: str) -> Any:
    """The newest version row of ``name`` in the instance, or None."""
    return conn.execute(
        select(artifacts)
        .where(artifacts.c.instance_id == instance_id, artifacts.c.name == name)
        .order_by(artifacts.c.version.desc())
        .limit(1)
    ).first()


def version_row(conn: Connection, instance_id: str, name: str, version: int) -> Any:
    return conn.execute(
        select(artifacts).where(
            artifacts.c.instance_id == instance_id, artifacts.c.name == name, artifacts.c.version == version
        )
    ).first()


def list_versions(conn: Connection, instance_id: str) -> list[Any]:
    """Every version of every artifact of the instance, by name, newest version first."""
    return list(
        conn.execute(
            select(artifacts)
            .where(artifacts.c.instance_id == instance_id)
            .order_by(artifacts.c.name, artifacts.c.version.desc())
        )
    )


def latest_versions(conn: Connection, instance_id: str) -> list[Any]:
    """The newest version of each artifact of the instance, by name."""
    newest = (
        select(artifacts.c.name, func.max(artifacts.c.version).label("version"))
        .where(artifacts.c.instance_id == instance_id)
        .group_by(artifacts.c.name)
        .subquery()
    )
    return list(
        conn.execute(
            select(artifacts)
            .join(newest, (artifacts.c.name == newest.c.name) & (artifacts.c.version == newest.c.version))
            .where(artifacts.c.instance_id == instance_id)
            .order_by(artifacts.c.name)
        )
    )


def insert_version(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(artifacts), values)


def blob_exists(conn: Connection, sha256: str) -> bool:
    return conn.execute(select(blobs.c.sha256).where(blobs.c.sha256 == sha256)).first() is not None


def insert_blob(conn: Connection, sha256: str, size: int, content: bytes | None, now: dt.datetime) -> None:
    conn.execute(insert(blobs), {"sha256": sha256, "size": size, "content": content, "created_at": now})


def blob_content(conn: Connection, sha256: str) -> Any:
    """The blob row (``content`` NULL when the bytes are in the file store), or None."""
    return conn.execute(select(blobs.c.sha256, blobs.c.content).where(blobs.c.sha256 == sha256)).first()


def delete_versions(conn: Connection, instance_id: str) -> list[str]:
    """Remove every artifact version of the instance; returns the SHA-256 keys they pointed at."""
    shas = [
        r.sha256
        for r in conn.execute(select(artifacts.c.sha256).distinct().where(artifacts.c.instance_id == instance_id))
    ]
    conn.execute(delete(artifacts).where(artifacts.c.instance_id == instance_id))
    return shas


def delete_unreferenced_blobs(conn: Connection, shas: list[str]) -> list[str]:
    """Delete those of ``shas`` no artifact version points at any more; returns the ones deleted."""
    if not shas:
        return []
    used = exists().where(artifacts.c.sha256 == blobs.c.sha256)
    gone = [r.sha256 for r in conn.execute(select(blobs.c.sha256).where(blobs.c.sha256.in_(shas), ~used))]
    if gone:
        conn.execute(delete(blobs).where(blobs.c.sha256.in_(gone)))
    return gone
