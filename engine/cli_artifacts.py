"""The ``baton artifacts ...`` commands: list, download and attach the files of an instance."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .artifact_records import ArtifactVersion
from .cli import emit, json_option, main, open_engine, pass_settings, when
from .config import Settings
from .errors import ArtifactTooLarge


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB" if size < 1024**2 else f"{size / 1024**2:.1f} MB"


def _line(v: ArtifactVersion, indent: str = "") -> str:
    step = f" ({v.element_name}, attempt {v.attempt})" if v.element_id and v.element_name else ""
    return (
        f"{indent}v{v.version:<3} {_size(v.size):>9}  {v.media_type:<24}  {v.produced_by}{step}  "
        f"{when(v.created_at)}  {v.sha256[:12]}"
    )


@main.group()
def artifacts() -> None:
    """Files attached to an instance (an OpenAPI document, a source archive, a test report), with versions."""


@artifacts.command("list")
@click.argument("instance")
@click.option("--history", is_flag=True, help="Also list every older version.")
@json_option
@pass_settings
def artifacts_list(settings: Settings, instance: str, history: bool, as_json: bool) -> None:
    """List the artifacts of INSTANCE: latest version, size, media type, who produced it and when."""
    with open_engine(settings) as eng:
        found = eng.artifacts(instance)

    def text() -> None:
        if not found:
            click.echo(f"instance {instance} has no artifacts")
        for a in found:
            click.echo(f"{a.name}")
            for v in a.versions if history else a.versions[:1]:
                click.echo(_line(v, "  "))

    emit(as_json, [a.to_dict() for a in found], text)


@artifacts.command("get")
@click.argument("instance")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=1), default=None, help="This version (default: the latest).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write it to this file (default: standard output).",
)
@pass_settings
def artifacts_get(settings: Settings, instance: str, name: str, version: int | None, output: str | None) -> None:
    """Download artifact NAME of INSTANCE (the latest version unless --version)."""
    with open_engine(settings) as eng:
        found, content = eng.read_artifact(instance, name, version)
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    Path(output).write_bytes(content)
    click.echo(f"{name} v{found.version} ({found.size} bytes) written to {output}", err=True)


@artifacts.command("attach")
@click.argument("instance")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--name", default=None, help="The artifact's name (default: the file's name).")
@click.option("--media-type", default=None, help="Its media type (default: guessed from the name).")
@click.option("--by", "by", default="cli", show_default=True, help="Who produced it, as shown in its history.")
@pass_settings
def artifacts_attach(
    settings: Settings, instance: str, file: str, name: str | None, media_type: str | None, by: str
) -> None:
    """Attach FILE to INSTANCE as the next version of the artifact (same content as the latest: no new version)."""
    path = Path(file)
    name = name or path.name
    limit = settings.artifact_max_bytes
    if path.stat().st_size > limit:  # before reading it all
        raise ArtifactTooLarge(
            f"{file} is {path.stat().st_size} bytes, above the artifact size limit of {limit} "
            "bytes (BATON_ARTIFACT_MAX_BYTES)",
            name=name,
            limit=limit,
        )
    with open_engine(settings) as eng:
        stored = eng.attach_artifact(instance, name, path.read_bytes(), media_type, user_name=by)
    click.echo(
        f"{stored.name} v{stored.version} ({stored.size} bytes, sha256 {stored.sha256[:12]}) attached to {instance}"
    )
