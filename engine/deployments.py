"""Deploying: files in, new process and decision versions out, all or nothing (mixed into the Engine).

:meth:`DeploymentsMixin.deploy_resources` parses a whole deployment (``engine/parsing.py``) in one
transaction, resolving called processes, decisions and Camunda Forms from what is already stored, then
:class:`_Writer` stores only what changed: byte-identical content keeps its version, a changed callee, DMN
or form gives the caller a new one.  Timer start events of new versions are armed in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from . import call_activities, camunda_forms
from .bpmn_parser import BusinessRuleTaskParser
from .errors import DefinitionNotFound
from .parsing import ParsedDeployment, ParsedProcess, Resource, form_lookup, parse_resources, read_resources
from .records import Definition, DeployResult
from .scripting import compile_check
from .serialization import SPEC_FORMAT, dump_spec
from .store import queries as q

log = logging.getLogger("baton.engine")


class DeploymentsMixin:
    """Deploy files and read deployed definitions; needs the Engine's ``_tx``, ``_spec``, ``settings`` and
    ``_arm_start_events``."""

    settings: Any
    _tx: Any
    _spec: Any
    _arm_start_events: Any


    def deploy(self, paths: Iterable[str | Path], source: str | None = None,
               progress: Callable[[Resource], None] | None = None, stub_unsupported: bool = False,
               drawing: bool = False) -> DeployResult:
        """Deploy .bpmn/.dmn files or folders of them, all or nothing.

        ``stub_unsupported`` turns Java delegates, Groovy/JavaScript script tasks and connectors into external
        jobs and drops listeners (``engine/unsupported.py``); the result's ``warnings`` list each one.
        ``drawing`` imports every process as a drawing, as a modeler opens a file: the XML is checked (safe
        parse, schema, references) and stored to be shown, but the processes are not parsed for execution
        and can never be started (for models that cannot run as they stand).
        """
        resources = read_resources(paths, self.settings.max_xml_bytes)
        return self.deploy_resources(resources, source=source, progress=progress, stub_unsupported=stub_unsupported,
                                     drawing=drawing)

    def deploy_bytes(self, files: Iterable[tuple[str, bytes]], source: str | None = None,
                     stub_unsupported: bool = False, drawing: bool = False) -> DeployResult:
        resources = [Resource(name=name, content=content) for name, content in files]
        return self.deploy_resources(resources, source=source, stub_unsupported=stub_unsupported, drawing=drawing)

    def deploy_resources(self, resources: list[Resource], source: str | None = None,
                         progress: Callable[[Resource], None] | None = None,
                         stub_unsupported: bool = False, drawing: bool = False) -> DeployResult:
        with self._tx() as conn:

            def lookup_process(key: str, version: int | None = None, version_tag: str | None = None) -> Any:
                if version_tag is not None:
                    row = call_activities.tagged_definition(conn, key, version_tag)
                elif version is not None:
                    row = q.definition_by_version(conn, key, version)
                else:
                    row = q.latest_definition(conn, key, executable_only=True)
                if row is None or not row.executable:
                    return None
                return row.id, self._spec(conn, row.id)

            def lookup_decision(key: str) -> bytes | None:
                row = q.latest_decision(conn, key)
                found = q.resource_content(conn, row.resource_id) if row is not None else None
                return found[1].encode() if found else None

            def lookup_form(kind: str, value: str) -> dict[str, Any] | None:
                return camunda_forms.stored(conn, kind, value)

            parsed = parse_resources(resources, compile_check, lookup_process, lookup_decision,
                                     self.settings.max_xml_bytes, progress, stub_unsupported, lookup_form, drawing)
            result = _Writer(conn, parsed, source).write()
            result.warnings.extend(w for res in resources for w in res.warnings)
            for d in result.definitions:
                if d.new and d.executable:
                    self._arm_start_events(conn, d)
        for d in result.definitions:
            log.info("deployed", extra={"process_key": d.key, "version": d.version, "new": d.new})
        for warning in result.warnings:
            log.warning("deploy: %s", warning)
        return result

    def definitions(self, key: str | None = None, latest_only: bool = False) -> list[Definition]:
        with self._tx() as conn:
            return [Definition.from_row(r) for r in q.list_definitions(conn, key, latest_only)]

    def get_definition(self, key: str, version: int | None = None) -> Definition:
        with self._tx() as conn:
            return Definition.from_row(self._definition_row(conn, key, version, executable_only=False))

    def definition_xml(self, key: str, version: int | None = None) -> str:
        with self._tx() as conn:
            row = self._definition_row(conn, key, version, executable_only=False)
            found = q.resource_content(conn, row.resource_id)
            assert found is not None
            return found[1]

    def _definition_row(self, conn: Connection, key: str, version: int | None, executable_only: bool) -> Any:
        row = (q.definition_by_version(conn, key, version) if version is not None
               else q.latest_definition(conn, key, executable_only=executable_only))
        if row is None:
            which = f"version {version} of " if version is not None else ""
            raise DefinitionNotFound(f"no {which}process '{key}' is deployed", key=key, version=version)
        return row


class _Writer:
    """Stores a parsed deployment: new versions only for content that changed."""

    def __init__(self, conn: Connection, parsed: ParsedDeployment, source: str | None) -> None:
        self.conn, self.parsed, self.source = conn, parsed, source
        self.deployment_id: int | None = None
        self.resource_ids: dict[str, int] = {}

    def _deployment(self) -> int:
        if self.deployment_id is None:
            self.deployment_id = q.insert_deployment(self.conn, self.source)
        return self.deployment_id

    def _resource(self, res: Resource) -> int:
        if res.name not in self.resource_ids:
            self.resource_ids[res.name] = q.insert_resource(
                self.conn, self._deployment(), res.name, res.kind, res.checksum,
                res.content.decode("utf-8", errors="replace"))
        return self.resource_ids[res.name]

    def write(self) -> DeployResult:
        for form in self.parsed.forms:  # kept for later deployments that refer to it (engine.camunda_forms)
            if not q.has_resource(self.conn, "form", form.checksum):
                self._resource(form)
        decisions = [self._write_decision(key, res) for key, res in sorted(self.parsed.decisions.items())]
        definitions = [self._write_process(p) for p in self.parsed.processes.values()]
        return DeployResult(deployment_id=self.deployment_id, definitions=definitions, decisions=decisions)

    def _write_decision(self, key: str, res: Resource) -> dict[str, Any]:
        latest = q.latest_decision(self.conn, key)
        if latest is not None and latest.checksum == res.checksum:
            return {"key": key, "version": latest.version, "new": False}
        version = q.next_version(self.conn, q.decisions, key)
        q.insert_decision(self.conn, key=key, version=version, name=None, deployment_id=self._deployment(),
                          resource_id=self._resource(res), checksum=res.checksum)
        return {"key": key, "version": version, "new": True}

    def _checksum(self, proc: ParsedProcess) -> str:
        """The file's checksum, plus what it calls and decides with, so a changed callee makes a new version."""
        parts = [proc.resource.checksum] + (["drawing"] if self.parsed.drawing else [])  # never the executable one
        for name in sorted(proc.subprocess_specs):
            local = self.parsed.processes.get(name)
            if local is not None and local.resource is not proc.resource:
                parts.append(f"{name}={local.resource.checksum}")
            elif name in proc.external_calls:
                parts.append(f"{name}=definition:{proc.external_calls[name]}")
        lookup = form_lookup(self.parsed.forms, lambda kind, value: camunda_forms.stored(self.conn, kind, value))
        parts += camunda_forms.checksums(proc.resource.tree, lookup)  # a changed form makes a new version too
        for el in proc.resource.tree.iter("{*}businessRuleTask"):
            ref = BusinessRuleTaskParser.get_decision_ref(el)
            if ref in self.parsed.decisions:
                parts.append(f"decision:{ref}={self.parsed.decisions[ref].checksum}")
            elif ref:
                stored = q.latest_decision(self.conn, ref)
                parts.append(f"decision:{ref}={stored.checksum if stored else '-'}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def _write_process(self, proc: ParsedProcess) -> Definition:
        checksum = self._checksum(proc)
        latest = q.latest_definition(self.conn, proc.key)
        if latest is not None and latest.checksum == checksum:
            return Definition.from_row(latest, new=False, resource_name=proc.resource.name)
        spec = json.dumps(dump_spec(proc.spec, proc.subprocess_specs)) if proc.executable else None
        version = q.next_version(self.conn, q.definitions, proc.key)
        new_id = q.insert_definition(
            self.conn, key=proc.key, version=version, name=proc.name, deployment_id=self._deployment(),
            resource_id=self._resource(proc.resource), checksum=checksum, executable=proc.executable,
            spec=spec, spec_format=SPEC_FORMAT if spec else None,
            calls=proc.external_calls or None,
        )
        return Definition.from_row(q.definition_by_id(self.conn, new_id), new=True, resource_name=proc.resource.name)
