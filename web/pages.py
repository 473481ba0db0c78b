"""Browser pages (this issue: the instance list)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from engine.execution import STATUSES

from . import get_engine

bp = Blueprint("pages", __name__)
PAGE_SIZE = 50


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return redirect(url_for("pages.instances"))


@bp.get("/instances")
def instances():  # type: ignore[no-untyped-def]
    status = request.args.get("status") or None
    key = request.args.get("key") or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    eng = get_engine()
    rows = eng.instances(status=status if status in STATUSES else None, key=key, limit=PAGE_SIZE + 1,
                         offset=(page - 1) * PAGE_SIZE)
    counts = eng.count_by_status()
    return render_template(
        "instances.html", instances=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page,
        status=status, key=key, statuses=STATUSES, counts=counts,
        keys=sorted({d.key for d in eng.definitions(latest_only=True)}),
    )
