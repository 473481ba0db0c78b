"""From files on disk to executable specs: safe XML, schema validation, parsing.

Every deployment goes through :func:`parse_resources`:

1. each file is read with a hardened lxml parser (no DTD, no entities, no
   network, a size limit) and refused if it declares a DTD at all, which is
   how entity-expansion bombs and external entities arrive;
2. it is validated against the BPMN 2.0 or DMN schema;
3. references are checked (a flow's source and target, a boundary event's host, a gateway's default, a
   diagram shape's element must exist); with ``drawing=True`` every process is then stored as a drawing and
   nothing below applies to it; sequence flows without an ``id`` (legal, common in other tools' files)
   get one, because SpiffWorkflow silently drops them otherwise;
4. Java delegates, Groovy/JavaScript scripts and connectors are rejected (``engine/unsupported.py``);
   JUEL (``${...}``) and FEEL (``= ...``) expressions are translated to Python in the parse tree
   (``engine/expressions.py``; the stored file stays as uploaded); unconditional gateway flows become true and
   implicit splits get a gateway (``engine/flow_semantics.py``); then scripts and expressions are
   compiled by the restricted compiler, so a syntax error is reported at deploy time with its element and line;
5. SpiffWorkflow parses every executable process into a spec; call
   activities resolve to processes of the same deployment or, through the
   ``lookup_process`` callback, to the latest deployed version of the key.

Errors name the file, the line and the element id.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import (
    call_activities,
    camunda_forms,
    event_specs,
    expressions,
    flow_semantics,
    quality_gates,
    timers,
    unsupported,
)
from .bpmn_parser import NSMAP, BatonParser, BusinessRuleTaskParser
from .call_activities import CALL
from .errors import DeploymentError, MalformedXMLError, ModelError, SchemaError, UnsafeXMLError
from .extensions import CAMUNDA
from .model_checks import check_called_elements, check_references, check_structure, drop_data_stores

BPMN_NS = NSMAP["bpmn"]
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# (spec, subprocess_specs) of an already deployed process
ResolvedSpec = tuple[Any, dict[str, Any]]
# (key, version or None, camunda:versionTag or None) -> (definition id, resolved spec) of a deployed process
LookupProcess = Callable[[str, int | None, str | None], tuple[Any, ResolvedSpec] | None]


def version_tag(proc: ParsedProcess) -> str | None:
    """The ``camunda:versionTag`` of a parsed process."""
    for node in proc.resource.tree.iter(f"{{{BPMN_NS}}}process"):
        if node.get("id") == proc.key:
            return node.get(f"{{{CAMUNDA}}}versionTag")
    return None


@dataclass
class Resource:
    """One deployed file."""

    name: str
    content: bytes
    kind: str = "bpmn"  # or "dmn"
    checksum: str = ""
    tree: Any = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)  # constructs stubbed at deploy (engine/unsupported.py)

    def __post_init__(self) -> None:
        if not self.checksum:
            self.checksum = hashlib.sha256(self.content).hexdigest()


@dataclass
class ParsedProcess:
    key: str
    name: str
    resource: Resource
    executable: bool
    spec: Any = None
    subprocess_specs: dict[str, Any] = field(default_factory=dict)
    # keys of called processes resolved outside this deployment -> definition id
    external_calls: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedDeployment:
    resources: list[Resource]
    processes: dict[str, ParsedProcess]
    decisions: dict[str, Resource]
    forms: list[Resource] = field(default_factory=list)  # Camunda Forms (.form files)
    drawing: bool = False  # deployed as drawings on request (Engine.deploy(..., drawing=True))


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The .bpmn and .dmn files named by ``paths`` (folders are searched recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".bpmn", ".dmn", ".form")
                           and p.is_file())
            if not any(p.suffix.lower() in (".bpmn", ".dmn") for p in found):
                raise DeploymentError("the folder holds no .bpmn or .dmn file", file=str(path))
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in (".bpmn", ".dmn", ".xml", ".form"):
                raise DeploymentError("only .bpmn, .dmn and .form (Camunda Form) files can be deployed",
                                      file=str(path))
            files.append(path)
        else:
            raise DeploymentError("no such file or folder", file=str(path))
    return files


def read_resources(paths: Iterable[str | os.PathLike[str]], max_bytes: int = DEFAULT_MAX_BYTES) -> list[Resource]:
    resources = []
    for path in collect_files(paths):
        size = path.stat().st_size
        if size > max_bytes:
            raise UnsafeXMLError(f"file is {size} bytes, more than the limit of {max_bytes}", file=str(path))
        resources.append(Resource(name=str(path), content=path.read_bytes()))
    return resources


_SAFE_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


def safe_parse(content: bytes, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse XML bytes with every dangerous feature off; refuse any DTD."""
    if len(content) > max_bytes:
        raise UnsafeXMLError(f"file is {len(content)} bytes, more than the limit of {max_bytes}", file=name)
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in content.lower():
        line = content[: content.lower().find(b"<!")].count(b"\n") + 1 if b"<!" in content else None
        raise UnsafeXMLError(
            "DOCTYPE and ENTITY declarations are not allowed (they enable entity expansion and external "
            "references); remove the DTD",
            file=name,
            line=line,
        )
    parser = etree.XMLParser(**_SAFE_PARSER_OPTIONS)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedXMLError(f"not well-formed XML: {exc.msg}", file=name, line=exc.lineno) from exc
    if root.getroottree().docinfo.doctype:
        raise UnsafeXMLError("DOCTYPE declarations are not allowed", file=name, line=1)
    return root


_validators: dict[str, BpmnValidator] = {}


def _validator(kind: str, namespace: str | None = None) -> BpmnValidator | None:
    key = f"{kind}:{namespace}"
    if key not in _validators:
        if kind == "bpmn":
            _validators[key] = BpmnValidator()
        else:
            schema = DMN_SCHEMAS.get(namespace or "")
            if schema is None:
                return None
            _validators[key] = BpmnValidator(schema)
    return _validators[key]


def element_at_line(root: Any, line: int | None) -> str | None:
    """The id of the element that starts at (or encloses) ``line``."""
    if not line:
        return None
    best = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.sourceline is not None and el.sourceline <= line and el.get("id"):
            best = el.get("id")
        if el.sourceline is not None and el.sourceline > line:
            break
    return best


def line_of(root: Any, element_id: str | None) -> int | None:
    if not element_id:
        return None
    found = root.xpath("//*[@id=$i]", i=element_id)
    return found[0].sourceline if found else None


def _classify(res: Resource, root: Any) -> str:
    tag = etree.QName(root).localname
    if tag != "definitions":
        raise SchemaError(f"the root element is <{tag}>, not <definitions>", file=res.name, line=root.sourceline)
    if etree.QName(root).namespace == BPMN_NS:
        return "bpmn"
    if "DMN" in (etree.QName(root).namespace or "").upper():
        return "dmn"
    raise SchemaError(
        f"unknown namespace {etree.QName(root).namespace!r}: expected BPMN 2.0 or DMN",
        file=res.name,
        line=root.sourceline,
    )


def validate_schema(res: Resource, root: Any) -> None:
    validator = _validator(res.kind, etree.QName(root).namespace)
    if validator is None:
        return
    try:
        validator.validate(root, res.name)
    except ValidationException as exc:
        line = exc.line_number if isinstance(exc.line_number, int) else None
        raise SchemaError(
            f"not valid BPMN 2.0: {_clean_schema_message(str(exc.args[0]) if exc.args else str(exc))}",
            file=res.name,
            line=line,
            element_id=element_at_line(root, line),
        ) from exc


def _clean_schema_message(msg: str) -> str:
    return msg.replace("{http://www.omg.org/spec/BPMN/20100524/MODEL}", "bpmn:")


def add_missing_flow_ids(root: Any) -> None:
    """Give id-less sequence flows a stable id, so SpiffWorkflow keeps them."""
    used = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for n, flow in enumerate(root.iter(f"{{{BPMN_NS}}}sequenceFlow")):
        if not flow.get("id"):
            candidate = f"Flow_{flow.get('sourceRef')}_{flow.get('targetRef')}"
            while candidate in used:
                candidate = f"{candidate}_{n}"
            flow.set("id", candidate)
            used.add(candidate)


ACTIVITI_NS = "http://activiti.org/bpmn"


def alias_activiti(root: Any) -> None:
    """Read ``activiti:`` attributes and extension elements as ``camunda:`` ones, as Camunda 7 does."""
    camunda = NSMAP["camunda"]
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag.startswith(f"{{{ACTIVITI_NS}}}"):
            el.tag = f"{{{camunda}}}{el.tag.split('}', 1)[1]}"
        for name in [n for n in el.attrib if n.startswith(f"{{{ACTIVITI_NS}}}")]:
            el.set(f"{{{camunda}}}{name.split('}', 1)[1]}", el.attrib.pop(name))


def _expressions(root: Any) -> Iterable[tuple[Any, str, str]]:
    """(element, text, mode) for every script and expression a process evaluates."""
    owner_tags = {f"{{{BPMN_NS}}}{t}" for t in ("sequenceFlow", "scriptTask", "standardLoopCharacteristics",
                                                   "multiInstanceLoopCharacteristics")}
    for el in root.iter(f"{{{BPMN_NS}}}conditionExpression", f"{{{BPMN_NS}}}loopCondition",
                        f"{{{BPMN_NS}}}completionCondition", f"{{{BPMN_NS}}}script",
                        f"{{{BPMN_NS}}}loopCardinality", f"{{{BPMN_NS}}}condition"):
        text = (el.text or "").strip()
        if not text:
            continue
        owner = el.getparent()
        while owner is not None and owner.tag not in owner_tags and not owner.get("id"):
            owner = owner.getparent()
        if owner is not None and owner.tag.endswith("LoopCharacteristics"):
            owner = owner.getparent()
        mode = "exec" if el.tag.endswith("}script") else "eval"
        yield owner if owner is not None else el, el.text or "", mode


def check_expressions(res: Resource, root: Any, compile_check: Callable[[str, str], str | None]) -> None:
    """Compile every script/expression; ``compile_check`` returns an error text or None."""
    for owner, text, mode in _expressions(root):
        process = owner.xpath("ancestor-or-self::bpmn:process", namespaces=NSMAP)
        if process and process[0].get("isExecutable", "true") != "true":
            continue
        problem = compile_check(text.strip() if mode == "eval" else text, mode)
        if problem:
            kind = "script" if mode == "exec" else "expression"
            raise ModelError(
                f"{kind} {text.strip()!r} cannot be compiled: {problem}",
                file=res.name,
                line=owner.sourceline,
                element_id=owner.get("id"),
            )


def check_timers(res: Resource, root: Any, compile_check: Callable[[str, str], str | None]) -> None:
    """Every timer value must be a valid ISO 8601 date, duration, cycle or cron, or an expression that compiles."""
    for el in root.iter(*(f"{{{BPMN_NS}}}{t}" for t in ("timeDate", "timeDuration", "timeCycle"))):
        process = el.xpath("ancestor::bpmn:process", namespaces=NSMAP)
        if process and process[0].get("isExecutable", "true") != "true":
            continue
        owner = el.xpath("ancestor::*[@id][1]", namespaces=NSMAP)
        element_id = owner[0].get("id") if owner else None
        text = (el.text or "").strip()
        value, is_expression = timers.unwrap(text)
        kind = el.tag.rsplit("}", 1)[-1]
        problem = timers.check_literal(text, kind) or (
            compile_check(value, "eval") if is_expression or not timers.literal_kind(value) else None)
        if problem:
            raise ModelError(f"{kind} {text!r} is not a valid timer value: {problem}", file=res.name,
                             line=el.sourceline, element_id=element_id)


def load_resources(resources: list[Resource], compile_check: Callable[[str, str], str | None],
                   max_bytes: int = DEFAULT_MAX_BYTES, progress: Callable[[Resource], None] | None = None,
                   stub_unsupported: bool = False, drawing: bool = False) -> None:
    """Safe-parse, classify, validate and pre-process every resource (sets ``tree``, ``kind``, ``warnings``).

    With ``drawing`` every process is treated as not executable (in the parse tree only): the files are
    checked as XML, against the schema and for dangling references, and stored to be shown, never run.

    Java delegates, Groovy/JavaScript scripts and connectors are rejected, or with ``stub_unsupported``
    turned into external jobs (``engine/unsupported.py``).
    """
    for res in resources:
        if progress is not None:
            progress(res)
        if res.name.lower().endswith(".form"):  # a Camunda Form (JSON), see engine.camunda_forms
            if len(res.content) > max_bytes:
                raise UnsafeXMLError(f"file is {len(res.content)} bytes, more than the limit of {max_bytes}",
                                     file=res.name)
            res.kind, res.tree = "form", camunda_forms.load(res.name, res.content)
            continue
        root = safe_parse(res.content, res.name, max_bytes)
        res.kind = _classify(res, root)
        if res.kind == "bpmn":
            check_called_elements(res.name, root)
        validate_schema(res, root)
        if res.kind == "bpmn":
            check_references(res.name, root)
            if drawing:  # every process is stored as a drawing: nothing below checks or parses it for execution
                for process in root.iter(f"{{{BPMN_NS}}}process"):
                    process.set("isExecutable", "false")
            add_missing_flow_ids(root)
            alias_activiti(root)
            drop_data_stores(root)
            res.warnings = unsupported.check_tree(res.name, root, stub_unsupported)
            expressions.translate_tree(res.name, root)  # JUEL / FEEL to Python, in the parse tree only
            flow_semantics.apply(root)  # unconditional gateway flows are true, implicit splits get a gateway
            call_activities.normalize(root)
            check_expressions(res, root, compile_check)
            check_timers(res, root, compile_check)
            check_structure(res.name, root)
            quality_gates.check_tree(res.name, root)
        res.tree = root


def _model_error(exc: SpiffWorkflowException, res_by_name: dict[str, Resource], default: Resource | None) -> ModelError:
    file_name = getattr(exc, "file_name", "") or (default.name if default else None)
    res = res_by_name.get(file_name or "", default)
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None)
    if not isinstance(line, int):
        line = line_of(res.tree, element_id) if res is not None and res.tree is not None else None
    message = str(exc.args[0]) if exc.args else str(exc)
    # SpiffWorkflow sometimes puts an lxml element in its text: name the element, not its memory address
    message = re.sub(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>", r"(its bpmn:\1 names nothing in the file)", message)
    notes = getattr(exc, "notes", None)
    if notes:
        message += " (" + "; ".join(notes) + ")"
    return ModelError(message.rstrip(". "), file=file_name or None, line=line, element_id=element_id)


def parse_resources(
    resources: list[Resource],
    compile_check: Callable[[str, str], str | None],
    lookup_process: LookupProcess,
    lookup_decision: Callable[[str], bytes | None],
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[Resource], None] | None = None,
    stub_unsupported: bool = False,
    lookup_form: camunda_forms.LookupForm | None = None,
    drawing: bool = False,
) -> ParsedDeployment:
    """Parse a whole deployment; raises a :class:`DeploymentError` subclass on the first problem.

    ``progress`` is called with each file as its checks begin (the CLI draws a progress bar with it);
    ``stub_unsupported`` turns Java delegates, non-Python scripts and connectors into external jobs;
    ``lookup_form`` finds a Camunda Form deployed before (by form id or file name); ``drawing`` stores every
    process as a drawing (see :func:`load_resources`).
    """
    load_resources(resources, compile_check, max_bytes, progress, stub_unsupported, drawing)
    res_by_name = {r.name: r for r in resources}
    parser = BatonParser()
    parser.lookup_form = form_lookup(resources, lookup_form)
    decisions: dict[str, Resource] = {}
    current: Resource | None = None
    try:
        for res in resources:
            if res.kind == "dmn":
                current = res
                parser.add_dmn_xml(res.tree, filename=res.name)
                for decision in res.tree.iter("{*}decision"):
                    decisions[decision.get("id")] = res
        _add_stored_decisions(parser, resources, decisions, lookup_decision)
        processes: dict[str, ParsedProcess] = {}
        for res in resources:
            if res.kind != "bpmn":
                continue
            current = res
            executable_here = False
            for node in res.tree.iter(f"{{{BPMN_NS}}}process"):
                key = node.get("id")
                if key in processes:
                    raise ModelError(
                        f"process id '{key}' is defined twice in this deployment "
                        f"(also in {processes[key].resource.name})",
                        file=res.name, line=node.sourceline, element_id=key,
                    )
                processes[key] = ParsedProcess(
                    key=key, name=node.get("name") or key, resource=res,
                    executable=node.get("isExecutable", "true") == "true",
                )
                executable_here = executable_here or processes[key].executable
            if executable_here:  # a file of drawings only is stored, not parsed for execution (data stores, ...)
                parser.add_bpmn_xml(res.tree, filename=res.name)
        for proc in processes.values():
            if proc.executable:
                current = proc.resource
                _build_spec(parser, proc, processes, lookup_process)
    except SpiffWorkflowException as exc:
        raise _model_error(exc, res_by_name, current) from exc
    except DeploymentError:
        raise
    except Exception as exc:  # SpiffWorkflow raises bare TypeErrors/KeyErrors on some bad models
        raise ModelError(
            f"cannot be parsed: {type(exc).__name__}: {exc}", file=current.name if current else None
        ) from exc
    return ParsedDeployment(resources=resources, processes=processes, decisions=decisions,
                            forms=[r for r in resources if r.kind == "form"], drawing=drawing)


def form_lookup(resources: list[Resource], stored: camunda_forms.LookupForm | None) -> camunda_forms.LookupForm:
    """Finds a Camunda Form by ("id", form id) or ("file", file name): this deployment's first, then ``stored``."""
    local: dict[tuple[str, str], dict[str, Any]] = {}
    for res in resources:
        if res.kind == "form":
            local[("file", Path(res.name).name)] = res.tree
            if res.tree.get("id"):
                local[("id", str(res.tree["id"]))] = res.tree

    def lookup(kind: str, value: str) -> dict[str, Any] | None:
        found = local.get((kind, value))
        return found if found is not None or stored is None else stored(kind, value)

    return lookup


def _add_stored_decisions(
    parser: BatonParser,
    resources: list[Resource],
    decisions: dict[str, Resource],
    lookup_decision: Callable[[str], bytes | None],
) -> None:
    wanted = set()
    for res in resources:
        if res.kind == "bpmn":
            for el in res.tree.iter(f"{{{BPMN_NS}}}businessRuleTask"):
                ref = BusinessRuleTaskParser.get_decision_ref(el)
                if ref:
                    wanted.add(ref)
    for ref in sorted(wanted - set(decisions)):
        content = lookup_decision(ref)
        if content is not None:
            root = safe_parse(content, f"<deployed decision {ref}>")
            parser.add_dmn_xml(root, filename=f"<deployed decision {ref}>")


def _build_spec(
    parser: BatonParser,
    proc: ParsedProcess,
    local: dict[str, ParsedProcess],
    lookup_process: LookupProcess,
) -> None:
    proc.spec = parser.get_spec(proc.key)
    subs: dict[str, Any] = {}
    pending = [proc.spec]
    while pending:
        spec = pending.pop()
        for task_spec in spec.task_specs.values():
            if not isinstance(task_spec, SubWorkflowTask) or task_spec.spec in subs:
                continue
            called = task_spec.spec
            call = (getattr(task_spec, "extensions", None) or {}).get(CALL) or {}
            where = dict(file=proc.resource.name, line=line_of(proc.resource.tree, task_spec.bpmn_id),
                         element_id=task_spec.bpmn_id)
            binding = call.get("binding", "latest")
            local_tag = binding == "versionTag" and called in local and \
                version_tag(local[called]) == call["version_tag"]
            if binding in ("latest", "deployment") or local_tag:
                if called in local or parser.get_process_parser(called) is not None:
                    if called in local and not local[called].executable:
                        raise ModelError(f"call activity calls process '{called}', which is not executable", **where)
                    subs[called] = parser.get_spec(called)
                    pending.append(subs[called])
                    continue
                if binding == "deployment":
                    raise ModelError(f"call activity has calledElementBinding 'deployment' but process '{called}' "
                                     "is not in this deployment", **where)
            found = lookup_process(called, call.get("version") if binding == "version" else None,
                                   call.get("version_tag") if binding == "versionTag" else None)
            if found is None:
                which = (f"version {call['version']} of " if binding == "version" else
                         f"a version tagged {call['version_tag']!r} of " if binding == "versionTag" else "")
                raise ModelError(
                    f"call activity calls {which}process '{called}', which is neither in this deployment "
                    "nor deployed before", **where)
            definition_id, (called_spec, called_subs) = found
            if binding in ("version", "versionTag"):  # several versions of one key may be called: name them apart
                task_spec.spec = f"{called}@{definition_id}"
            proc.external_calls[called] = definition_id
            subs[task_spec.spec] = called_spec
            for name, sub in called_subs.items():
                subs.setdefault(name, sub)
    proc.subprocess_specs = subs
    expressions.adopt_collections(event_specs.task_specs(proc.spec, subs))
    event_specs.adopt(proc.spec, subs, event_specs.zeebe_correlation_keys(proc.resource.tree))
