"""The example processes (bpmn/examples) and benchmark processes (bench/processes).

For every file: it is schema-valid BPMN 2.0 / DMN 1.3, its diagram is complete
and tidy (a shape for every flow node, an orthogonal edge for every sequence
flow, standard sizes, nothing overlapping), and it runs on raw SpiffWorkflow
with Baton's parser and the default script engine to the expected end with the
expected variables.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.util.task import TaskState

from engine.bpmn_parser import BatonParser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "bpmn" / "examples"
BENCH = ROOT / "bench" / "processes"

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {
    "bpmn": BPMN_NS,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}

EXPECTED_BPMN = {
    EXAMPLES / "approval.bpmn": "approval",
    EXAMPLES / "parallel_review.bpmn": "parallel_review",
    EXAMPLES / "loop.bpmn": "loop",
    EXAMPLES / "retry_loop.bpmn": "retry_loop",
    EXAMPLES / "order.bpmn": "order",
    EXAMPLES / "shipping.bpmn": "shipping",
    EXAMPLES / "discount.bpmn": "discount",
    EXAMPLES / "multi_review.bpmn": "multi_review",
    EXAMPLES / "external_charge.bpmn": "external_charge",
    EXAMPLES / "payment_reminder.bpmn": "payment_reminder",
    EXAMPLES / "order_saga.bpmn": "order_saga",
    EXAMPLES / "feature-delivery.bpmn": "feature-delivery",
    BENCH / "bench_sequence.bpmn": "bench_sequence",
    BENCH / "bench_parallel.bpmn": "bench_parallel",
}
EXPECTED_DMN = {EXAMPLES / "discount.dmn": "discount_decision"}

BPMN_FILES = sorted(set(EXAMPLES.glob("*.bpmn")) | set(BENCH.glob("*.bpmn")) | set(EXPECTED_BPMN))
DMN_FILES = sorted(set(EXAMPLES.glob("*.dmn")) | set(EXPECTED_DMN))

EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
ACTIVITIES = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
}
SIZES = {
    **{k: (36, 36) for k in EVENTS},
    **{k: (50, 50) for k in GATEWAYS},
    **{k: (100, 80) for k in ACTIVITIES},
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@functools.cache
def _bpmn_validator() -> BpmnValidator:
    return BpmnValidator()


@functools.cache
def _dmn_validator(namespace: str) -> BpmnValidator:
    return BpmnValidator(DMN_SCHEMAS[namespace])


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


# ------------------------------------------------------------------ the files


def test_all_expected_files_exist():
    missing = [_rel(p) for p in [*EXPECTED_BPMN, *EXPECTED_DMN] if not p.is_file()]
    assert not missing


@pytest.mark.parametrize("path", BPMN_FILES, ids=_rel)
def test_bpmn_is_schema_valid(path: Path):
    tree = etree.parse(str(path))
    _bpmn_validator().validate(tree, filename=str(path))
    root = tree.getroot()
    assert root.tag == f"{{{BPMN_NS}}}definitions"
    assert root.get("exporter") == "Baton" and root.get("exporterVersion") == "0.1"
    processes = root.findall("bpmn:process", NS)
    assert [p.get("id") for p in processes] == [path.stem]
    assert processes[0].get("isExecutable") == "true"
    assert processes[0].get("name")


@pytest.mark.parametrize("path", DMN_FILES, ids=_rel)
def test_dmn_is_schema_valid(path: Path):
    tree = etree.parse(str(path))
    root = tree.getroot()
    assert root.nsmap[None] == "https://www.omg.org/spec/DMN/20191111/MODEL/"
    _dmn_validator(root.nsmap[None]).validate(tree, filename=str(path))
    decisions = root.findall("{*}decision")
    assert [d.get("id") for d in decisions] == [EXPECTED_DMN.get(path, path.stem)]


def _bounds(shape: etree._Element) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", NS)
    return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))


def _on_border(point: tuple[float, float], bounds: tuple[float, float, float, float]) -> bool:
    x, y = point
    bx, by, bw, bh = bounds
    inside = bx - 1 <= x <= bx + bw + 1 and by - 1 <= y <= by + bh + 1
    on_edge = min(abs(x - bx), abs(x - bx - bw), abs(y - by), abs(y - by - bh)) <= 1
    return inside and on_edge


@pytest.mark.parametrize("path", BPMN_FILES, ids=_rel)
def test_diagram_is_complete_and_tidy(path: Path):
    root = etree.parse(str(path)).getroot()
    process = root.find("bpmn:process", NS)
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane is not None and plane.get("bpmnElement") == process.get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.findall("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.findall("bpmndi:BPMNEdge", NS)}

    # flow nodes at any depth: an expanded subprocess draws its content inside its own box
    nodes = [el for el in process.iter() if isinstance(el.tag, str) and _local(el) in SIZES]
    flows = list(process.iter(f"{{{NS['bpmn']}}}sequenceFlow"))
    parent = {n.get("id"): n.getparent().get("id") for n in nodes if n.getparent() is not process}
    assert nodes and flows
    assert {n.get("id") for n in nodes} == set(shapes), "one shape per flow node, nothing else"
    associations = {a.get("id") for a in process.findall("bpmn:association", NS)}
    assert {f.get("id") for f in flows} | associations == set(edges), "one edge per sequence flow, nothing else"

    boxes = {}
    for node in nodes:
        x, y, w, h = boxes[node.get("id")] = _bounds(shapes[node.get("id")])
        if shapes[node.get("id")].get("isExpanded") != "true":
            assert (w, h) == SIZES[_local(node)], f"{node.get('id')} is {w}x{h}"
    for child, container in parent.items():
        (cx, cy, cw, ch), (px, py, pw, ph) = boxes[child], boxes[container]
        assert px < cx and cx + cw < px + pw and py < cy and cy + ch < py + ph, f"{child} is outside {container}"
    attached = {(n.get("id"), n.get("attachedToRef")) for n in nodes if _local(n) == "boundaryEvent"}
    for (a, (ax, ay, aw, ah)), (b, (bx, by, bw, bh)) in itertools.combinations(boxes.items(), 2):
        if (a, b) in attached or (b, a) in attached:
            assert _on_border((ax + aw / 2, ay + ah / 2) if (a, b) in attached else (bx + bw / 2, by + bh / 2),
                              boxes[b] if (a, b) in attached else boxes[a]), "a boundary event sits on its host's border"
            continue
        if parent.get(a) == b or parent.get(b) == a:
            continue
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"{a} overlaps {b}"

    for flow in flows:
        waypoints = edges[flow.get("id")].findall("di:waypoint", NS)
        points = [(float(w.get("x")), float(w.get("y"))) for w in waypoints]
        assert len(points) >= 2
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            assert x1 == x2 or y1 == y2, f"{flow.get('id')} has a diagonal segment"
        assert _on_border(points[0], boxes[flow.get("sourceRef")]), (
            f"{flow.get('id')} does not leave its source"
        )
        assert _on_border(points[-1], boxes[flow.get("targetRef")]), (
            f"{flow.get('id')} does not reach its target"
        )

    # incoming/outgoing lists agree with the sequence flows (Camunda Modeler writes both)
    for node in nodes:
        incoming = {f.get("id") for f in flows if f.get("targetRef") == node.get("id")}
        outgoing = {f.get("id") for f in flows if f.get("sourceRef") == node.get("id")}
        assert {e.text for e in node.findall("bpmn:incoming", NS)} == incoming
        assert {e.text for e in node.findall("bpmn:outgoing", NS)} == outgoing


def test_readme_covers_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    for path, process_id in EXPECTED_BPMN.items():
        assert path.name in readme and process_id in readme
    assert "discount.dmn" in readme and "discount_decision" in readme


# ---------------------------------------------------------------- running them


def _workflow(process_id: str, *files: str, data: dict | None = None) -> BpmnWorkflow:
    parser = BatonParser()
    for name in files:
        path = EXAMPLES / name if (EXAMPLES / name).exists() else BENCH / name
        if path.suffix == ".dmn":
            parser.add_dmn_xml(etree.parse(str(path)).getroot(), filename=str(path))
        else:
            parser.add_bpmn_xml(etree.parse(str(path)).getroot(), filename=str(path))
    wf = BpmnWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id))
    start = wf.get_tasks(state=TaskState.READY)
    assert len(start) == 1
    start[0].data.update(data or {})
    wf.do_engine_steps()
    return wf


def _ready(wf: BpmnWorkflow) -> list:
    return wf.get_tasks(state=TaskState.READY, manual=True)


def _complete(wf: BpmnWorkflow, task, **answers) -> None:
    task.data.update(answers)
    task.run()
    wf.do_engine_steps()


def _ends_reached(wf: BpmnWorkflow) -> set[str]:
    return {
        t.task_spec.bpmn_id
        for t in wf.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
        if isinstance(t.task_spec, EndEvent)
    }


def test_approval_small_amount_is_auto_approved():
    wf = _workflow("approval", "approval.bpmn", data={"amount": 100})
    assert wf.completed and not _ready(wf)
    assert _ends_reached(wf) == {"EndEvent_AutoApproved"}
    assert wf.data == {"amount": 100, "approved": True, "status": "auto-approved"}


@pytest.mark.parametrize(
    "approved, status, end",
    [(True, "approved", "EndEvent_Approved"), (False, "rejected", "EndEvent_Rejected")],
)
def test_approval_reviewed(approved: bool, status: str, end: str):
    wf = _workflow("approval", "approval.bpmn", data={"amount": 250})
    [task] = _ready(wf)
    assert task.task_spec.bpmn_id == "Task_Review"
    assert [f.id for f in task.task_spec.form.fields] == ["approved", "comment"]
    _complete(wf, task, approved=approved, comment="looked at it")
    assert wf.completed
    assert _ends_reached(wf) == {end}
    assert wf.data["status"] == status and wf.data["approved"] is approved
    assert wf.data["comment"] == "looked at it"


@pytest.mark.parametrize("finance_ok, all_ok", [(True, True), (False, False)])
def test_parallel_review(finance_ok: bool, all_ok: bool):
    wf = _workflow("parallel_review", "parallel_review.bpmn")
    ready = {t.task_spec.bpmn_id: t for t in _ready(wf)}
    assert set(ready) == {"Task_LegalReview", "Task_FinanceReview", "Task_TechReview"}
    assert wf.get_tasks(spec_name="Task_Prepare")[0].data["reviews_done"] == 0
    _complete(wf, ready["Task_TechReview"], tech_ok=True)
    assert not wf.completed
    _complete(wf, ready["Task_LegalReview"], legal_ok=True)
    assert not wf.completed
    _complete(wf, ready["Task_FinanceReview"], finance_ok=finance_ok)
    assert wf.completed
    assert wf.data["all_ok"] is all_ok
    assert _ends_reached(wf) == {"EndEvent_Reviewed"}


@pytest.mark.parametrize("limit, total", [(5, 15), (1, 1)])
def test_gateway_loop(limit: int, total: int):
    wf = _workflow("loop", "loop.bpmn", data={"limit": limit})
    assert wf.completed
    assert wf.data == {"limit": limit, "counter": limit, "total": total}
    steps = [t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id == "Task_Step"]
    assert len(steps) == limit


def test_standard_loop_runs_until_condition_is_false():
    wf = _workflow("retry_loop", "retry_loop.bpmn")
    assert wf.completed
    assert wf.data == {"attempts": 3}
    # testBefore="false": the body runs first, the condition is checked after each run
    runs = [t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.name == "Task_Attempt [child]"]
    assert len(runs) == 3


@pytest.mark.parametrize(
    "quantity, unit_price, total, carrier",
    [(3, 50, 150, "express"), (1, 20, 20, "standard")],
)
def test_order_calls_shipping(quantity: int, unit_price: int, total: int, carrier: str):
    wf = _workflow(
        "order",
        "order.bpmn",
        "shipping.bpmn",
        data={"order_id": "A-17", "quantity": quantity, "unit_price": unit_price},
    )
    assert wf.completed
    assert wf.data["total"] == total
    assert wf.data["carrier"] == carrier
    assert wf.data["confirmation"] == f"order A-17 shipped via {carrier}"
    assert _ends_reached(wf) == {"EndEvent_Shipped"}


@pytest.mark.parametrize(
    "tier, total, discount, final_total",
    [
        ("gold", 1200, 0.15, 1020.0),
        ("gold", 500, 0.1, 450.0),
        ("silver", 50, 0.05, 47.5),
        ("bronze", 2000, 0, 2000),
    ],
)
def test_discount_decision(tier: str, total: int, discount: float, final_total: float):
    wf = _workflow("discount", "discount.dmn", "discount.bpmn", data={"customer_tier": tier, "total": total})
    assert wf.completed
    assert wf.data["discount"] == discount
    assert wf.data["final_total"] == final_total


def test_multi_instance_review():
    reviewers = ["ann", "bob", "cy"]
    wf = _workflow("multi_review", "multi_review.bpmn", data={"reviewers": reviewers})
    ready = _ready(wf)
    assert len(ready) == 3, "a parallel multi-instance task creates every instance at once"
    by_reviewer = {t.data["reviewer"]: t for t in ready}
    assert set(by_reviewer) == set(reviewers)
    # outputs are appended to the output collection in completion order
    _complete(wf, by_reviewer["cy"], score=8)
    _complete(wf, by_reviewer["ann"], score=3)
    assert not wf.completed
    _complete(wf, by_reviewer["bob"], score=4)
    assert wf.completed
    assert wf.data["scores"] == [8, 3, 4]
    assert wf.data["average"] == 5.0
    # the sequential instances run in list order
    assert wf.data["notified"] == reviewers
    assert "reviewer" not in wf.data and "recipient" not in wf.data


def test_bench_sequence():
    wf = _workflow("bench_sequence", "bench_sequence.bpmn")
    assert wf.completed
    assert wf.data == {"x": 9}


def test_bench_parallel():
    wf = _workflow("bench_parallel", "bench_parallel.bpmn")
    assert wf.completed
    assert wf.data == {f"b{i}": i for i in range(1, 11)}
