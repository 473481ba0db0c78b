"""Small BPMN documents written inline by the tests."""

from __future__ import annotations

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'id="Defs_{pid}" targetNamespace="http://baton.test/{pid}">\n'
)


def process_xml(pid: str, body: str, executable: bool = True, extra: str = "") -> bytes:
    """A definitions document with one process ``pid`` whose flow elements are ``body``."""
    flag = "true" if executable else "false"
    return (
        HEADER.format(pid=pid)
        + f'<bpmn:process id="{pid}" name="{pid}" isExecutable="{flag}">\n{body}\n</bpmn:process>\n'
        + extra
        + "</bpmn:definitions>\n"
    ).encode()


def chain(*steps: str) -> str:
    """start -> steps... -> end, each step an element xml with id S1, S2, ... in order."""
    ids = ["start"] + [f"S{i + 1}" for i in range(len(steps))] + ["end"]
    parts = ['<bpmn:startEvent id="start"/>']
    parts += [step.replace("{id}", ids[i + 1]) for i, step in enumerate(steps)]
    parts.append('<bpmn:endEvent id="end"/>')
    parts += [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
              enumerate(zip(ids, ids[1:], strict=False))]
    return "\n".join(parts)


def script(code: str, name: str = "") -> str:
    """A script task (use inside :func:`chain`; ``{id}`` is filled in there)."""
    escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<bpmn:scriptTask id="{{id}}" name="{name}" scriptFormat="python"><bpmn:script>{escaped}</bpmn:script></bpmn:scriptTask>'


def user_task(name: str = "Do it") -> str:
    return f'<bpmn:userTask id="{{id}}" name="{name}"/>'


class Clock:
    """A clock the engine reads (``Engine(settings, clock=clock)``), moved by the test instead of sleeping."""

    def __init__(self) -> None:
        import datetime as dt

        self._now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self._now

    def advance(self, seconds: float) -> None:
        import datetime as dt

        self._now += dt.timedelta(seconds=seconds)


def service_task(topic: str | None = None, extensions: str = "", attrs: str = "") -> str:
    """A service task (``{id}`` filled in by :func:`chain`), external with ``topic`` when given."""
    topic_attrs = f' camunda:type="external" camunda:topic="{topic}"' if topic else ""
    ext = f"<bpmn:extensionElements>{extensions}</bpmn:extensionElements>" if extensions else ""
    return f'<bpmn:serviceTask id="{{id}}" name="Call {topic or "service"}"{topic_attrs}{attrs}>{ext}</bpmn:serviceTask>'


def flows(*pairs: str) -> str:
    """Sequence flows written ``"a>b"`` (id ``sf_a_b``)."""
    return "\n".join(f'<bpmn:sequenceFlow id="sf_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>'
                     for a, b in (p.split(">") for p in pairs))
