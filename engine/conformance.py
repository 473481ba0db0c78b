"""The conformance runner: deploy and run every file of a BPMN corpus and check the outcome it should have.

A corpus folder holds BPMN files and a ``manifest.tsv`` (one row per file: ``file``, ``category``,
``expected``, ``deployed_with`` and plain SpiffWorkflow's results, see ``tests/corpus/README.md``).  The
expectations folder holds one ``<category>.toml`` per category with one ``[[model]]`` entry per file:
``expect = "drawing"`` (must deploy), ``"run"`` (must deploy, start and pass its ``steps``, see
``engine.conformance_steps``; ``start = false`` starts nothing, for models that a start timer starts) or
``"reject"`` (deploy must fail with an error containing ``reject``).
Each model runs in a database of its own (a fresh SQLite file, or the ``--database`` one emptied first) with a
clock that only ``advance`` steps move.  ``known_miss = "reason"`` marks an entry Baton is known to miss: it
is counted apart, and a test fails when it starts passing (so the mark goes) or when any other entry misses.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from .config import Settings
from .conformance_steps import ConformanceClock, StepFailed, StepRunner
from .errors import BatonError, ConfigurationError, DeploymentError
from .execution import FAILED, INCIDENT
from .parsing import Resource
from .store import db as store_db
from .store.tables import Base

EXPECTS = ("drawing", "run", "reject")


@dataclass
class Outcome:
    """What happened to one corpus file."""

    file: str
    category: str
    expect: str | None  # None: the file has no expectation entry
    deployed: bool = False
    ran: bool = False
    as_expected: bool = False
    rejected: bool = False  # deploy failed, and that was the expectation
    known_miss: str | None = None
    detail: str = ""  # why it missed, or the rejection reason

    @property
    def missed(self) -> bool:
        return not self.as_expected


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    manifest: list[dict[str, str]] = field(default_factory=list)

    @property
    def unexpected(self) -> list[Outcome]:
        """Misses not marked as known, and known misses that now pass (their mark must go)."""
        return [o for o in self.outcomes if (o.missed and not o.known_miss) or (o.known_miss and not o.missed)]


def load_manifest(corpus: Path) -> list[dict[str, str]]:
    path = corpus / "manifest.tsv"
    if not path.is_file():
        raise ConfigurationError(f"{corpus} has no manifest.tsv (one row per corpus file, see tests/corpus/README.md)")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def load_expectations(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``[[model]]`` entry of ``folder/*.toml`` by file, each with its ``category`` (the toml's name)."""
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: {exc}") from exc
        for i, entry in enumerate(data.get("model", [])):
            where = f"{path.name} model #{i + 1}"
            if "file" not in entry or entry.get("expect") not in EXPECTS:
                raise ConfigurationError(f"{where}: needs file and expect (one of {', '.join(EXPECTS)})")
            if entry["file"] in entries:
                raise ConfigurationError(f"{where}: {entry['file']} has a second entry")
            entries[entry["file"]] = {**entry, "category": path.stem}
    return entries


class Databases:
    """A clean, migrated database per model: a copy of one migrated SQLite file, or ``url`` emptied."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.tmp = Path(tempfile.mkdtemp(prefix="baton-conformance-"))
        self.count = 0
        sa = store_db.connect(url or f"sqlite:///{self.tmp / 'template.db'}")
        store_db.upgrade(sa)
        if url is None:
            with sa.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        sa.dispose()

    def fresh(self) -> str:
        if self.url is None:
            self.count += 1
            target = self.tmp / f"model{self.count}.db"
            shutil.copy(self.tmp / "template.db", target)
            return f"sqlite:///{target}"
        sa = store_db.connect(self.url)
        with sa.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
        sa.dispose()
        return self.url

    def release(self, url: str) -> None:
        if self.url is None:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def _engine(url: str) -> Iterator[tuple[Any, ConformanceClock]]:
    from .runtime import Engine

    clock = ConformanceClock()
    eng = Engine(Settings(database_url=url, script_timeout=2.0, auto_migrate=False), clock=clock)
    try:
        yield eng, clock
    finally:
        eng.close()


def _resources(corpus: Path, entry: dict[str, Any]) -> list[Resource]:
    files = [entry["file"], *entry.get("deploy_with", [])]
    return [Resource(name=name, content=(corpus / name).read_bytes()) for name in files]


def _process_keys(entry: dict[str, Any], deployed: Any) -> list[str]:
    """The processes to start: ``process`` (a key or a list of keys), else the file's only executable one.

    ``start_all = true`` starts every executable process of the file (steps then refer to the first).
    """
    wanted = entry.get("process")
    if wanted:
        return [str(k) for k in wanted] if isinstance(wanted, list) else [str(wanted)]
    main = [d.key for d in deployed.definitions if d.executable and d.resource_name == entry["file"]]
    if not main or (len(main) > 1 and not entry.get("start_all")):
        raise StepFailed(f"the file has {len(main)} executable processes ({main}): name one with process = ...")
    return main


def run_model(corpus: Path, entry: dict[str, Any], url: str) -> Outcome:
    """Deploy, start and check one expectation entry in the (empty) database at ``url``."""
    out = Outcome(entry["file"], entry["category"], entry["expect"], known_miss=entry.get("known_miss"))
    with _engine(url) as (eng, clock):
        try:
            deployed = eng.deploy_resources(_resources(corpus, entry), source="conformance")
        except DeploymentError as exc:
            reason = str(exc)
            out.detail = reason
            if entry["expect"] == "reject":
                wanted = str(entry.get("reject", ""))
                out.rejected = out.as_expected = wanted.lower() in reason.lower()
                if not out.as_expected:
                    out.detail = f"rejected, but the reason does not mention {wanted!r}: {reason}"
            else:
                out.detail = f"deploy failed: {reason}"
            return out
        out.deployed = True
        if entry["expect"] == "reject":
            out.detail = f"deployed, but should be rejected ({entry.get('reject', '')}: {entry.get('why', '')})"
            return out
        if entry["expect"] == "drawing":
            out.as_expected = True
            return out
        step_no = 0
        try:
            keys = [] if entry.get("start") is False else _process_keys(entry, deployed)  # start = false: timers
            started = [eng.start(key, entry.get("variables"), business_key=entry.get("business_key"),
                                 initiator=entry.get("initiator"))
                       for key in keys]
            out.ran = True
            runner = StepRunner(eng, clock, started[0].id if started else None)
            steps = entry.get("steps", [])
            for number, step in enumerate(steps, start=1):
                step_no = number  # named in the miss when the step fails
                runner.run(step)
            expects_status = any(next(iter(s), None) == "status" for s in steps)
            for inst in started if not expects_status else []:
                final = eng.get_instance(inst.id)
                if final.status in (FAILED, INCIDENT):
                    step_no = 0
                    why = (final.error or {}).get("message", "")
                    raise StepFailed(f"the instance of {final.process_key} ended {final.status}: {why}")
            out.as_expected = True
        except StepFailed as exc:
            out.detail = f"step {step_no}: {exc}" if step_no else str(exc)
        except BatonError as exc:
            where = f"step {step_no}" if step_no else "start"
            out.detail = f"{where}: {type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001  (an engine bug: reported as a miss, the run goes on)
            where = f"step {step_no}" if step_no else "start"
            out.detail = f"{where}: the engine raised {type(exc).__name__} (not a Baton error): {exc}"
    return out


def run_corpus(corpus: Path, expectations: Path, database: str | None = None,
               progress: Callable[[str], None] | None = None, only: Callable[[str], bool] | None = None) -> Report:
    """Run every manifest row (or those ``only`` accepts) against its expectation."""
    manifest = load_manifest(corpus)
    entries = load_expectations(expectations)
    report = Report(manifest=manifest)
    dbs = Databases(database)
    try:
        for row in manifest:
            name = row["file"]
            if only is not None and not only(name):
                continue
            if progress is not None:
                progress(name)
            entry = entries.get(name)
            if entry is None:
                report.outcomes.append(Outcome(name, row["category"], None, detail="no expectation"))
                continue
            url = dbs.fresh()
            try:
                report.outcomes.append(run_model(corpus, entry, url))
            finally:
                dbs.release(url)
    finally:
        dbs.close()
    return report
