"""The deploy page: upload .bpmn / .dmn files and see what was deployed, or why nothing was.

``GET  /deploy``   the upload form
``POST /deploy``   multipart: ``files`` (one or more uploads) and/or ``kept_name``/``kept_text`` pairs (files
                   kept from a refused upload, edited in the page).  All or nothing: on a validation error the
                   page names the file, the line and the element id, shows the lines around it, and keeps every
                   file in an editable box so the user can fix it and deploy again without re-uploading.
                   ``drawing=on`` imports every process as a drawing (shown, never started).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request

from engine.errors import DeploymentError

from . import get_engine

bp = Blueprint("deploy_page", __name__)
SUFFIXES = (".bpmn", ".dmn", ".bpmn20.xml", ".xml", ".form")
CONTEXT_LINES = 3  # lines shown before and after the line an error names


@dataclass
class Kept:
    """An uploaded file kept in the page after a refused deploy."""

    name: str
    text: str
    error_line: int | None = None

    def excerpt(self) -> list[tuple[int, str]]:
        """The lines around the error, numbered, for the error box."""
        if not self.error_line:
            return []
        lines = self.text.splitlines()
        first = max(self.error_line - 1 - CONTEXT_LINES, 0)
        return [(first + i + 1, line) for i, line in enumerate(lines[first:self.error_line + CONTEXT_LINES])]


def _uploads() -> tuple[list[tuple[str, bytes]], list[str]]:
    files: list[tuple[str, bytes]] = []
    problems: list[str] = []
    for upload in request.files.getlist("files"):
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not name:
            continue
        if not name.lower().endswith(SUFFIXES):
            problems.append(f"{name}: only .bpmn, .dmn and .form files can be deployed")
            continue
        files.append((name, upload.read()))
    names, texts = request.form.getlist("kept_name"), request.form.getlist("kept_text")
    for name, text in zip(names, texts, strict=False):
        name = name.strip()[:255]
        if name and not any(n == name for n, _ in files):  # a new upload of the same name wins
            files.append((name, text.replace("\r\n", "\n").encode()))
    return files, problems


@bp.get("/deploy")
def deploy():  # type: ignore[no-untyped-def]
    return render_template("deploy.html", kept=[], result=None, error=None, problems=[])


@bp.post("/deploy")
def deploy_upload():  # type: ignore[no-untyped-def]
    files, problems = _uploads()
    drawing = request.form.get("drawing") == "on"
    kept = [Kept(name, content.decode("utf-8", errors="replace")) for name, content in files]
    if not files and not problems:
        problems.append("Choose at least one .bpmn or .dmn file to deploy.")
    if problems:
        return render_template("deploy.html", kept=kept, result=None, error=None, problems=problems,
                               drawing=drawing), 400
    try:
        result = get_engine().deploy_bytes(files, source="cockpit upload", drawing=drawing)
    except DeploymentError as exc:
        bad_file = exc.file
        for k in kept:
            if k.name == bad_file:
                k.error_line = exc.line
        kept.sort(key=lambda k: k.name != bad_file)  # the file with the error first
        return render_template("deploy.html", kept=kept, result=None, error=exc, problems=[], drawing=drawing), 422
    return render_template("deploy.html", kept=[], result=result, error=None, problems=[])
