"""``baton conformance``: run a BPMN corpus against its restated expectations (see engine/conformance.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import main


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--expectations", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of <category>.toml expectation files [default: DIRECTORY/../conformance, "
                   "i.e. tests/conformance for tests/corpus].")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table as a Markdown page (e.g. docs/conformance.md).")
@click.option("--database", default=None, metavar="URL",
              help="Run every model in this database, emptied before each one (it is migrated first; every table "
                   "is wiped!) [default: a fresh temporary SQLite file per model].")
@click.option("--only", default=None, metavar="TEXT", help="Run only the files whose path contains TEXT.")
def conformance(directory: Path, expectations: Path | None, write_to: Path | None, database: str | None,
                only: str | None) -> None:
    """Deploy and run every file of the corpus in DIRECTORY (with its manifest.tsv) and check each outcome.

    Drawings must import, executable models must run and pass the steps restated from their original test,
    and models expected to be rejected must fail to deploy with the stated reason.  Prints a table by
    category; exits with status 1 when a model misses its expectation (other than a recorded known miss) or
    a known miss passes now.
    """
    from .conformance import load_manifest, run_corpus
    from .conformance_report import markdown, text_table

    folder = expectations or directory.parent / "conformance"
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder", param_hint="--expectations")
    wanted = (lambda name: only in name) if only else None
    count = sum(1 for row in load_manifest(directory) if wanted is None or wanted(row["file"]))
    with click.progressbar(length=count, label="Running the corpus", file=sys.stderr,
                           item_show_func=lambda name: name, show_pos=True) as bar:
        report = run_corpus(directory, folder, database, progress=lambda name: bar.update(1, Path(name).name),
                            only=wanted)
    click.echo(text_table(report))
    if write_to is not None:
        write_to.write_text(markdown(report), encoding="utf-8")
        click.echo(f"wrote {write_to}", err=True)
    if report.unexpected:
        sys.exit(1)
