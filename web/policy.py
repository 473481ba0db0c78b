"""Who may call what: one table of rules, checked before every request (see ``web/auth.py``).

A rule is ``(methods, path regex, minimum role)``; the first rule whose methods and regex match the request
decides.  Roles are ordered ``user < operator < admin`` (``engine.users.ROLES``): a rule for ``operator``
lets operators and admins in.  Paths in :data:`PUBLIC` need nobody signed in; every other path needs a
signed-in user, and a path no rule names needs ``user`` to read and ``operator`` to change anything (so a
new write route is never open to everyone by accident: add a rule for it when ``user`` should do it).

External-task workers (``/api/v1/external-tasks``, ``/engine-rest/external-task``) use the API token (or, under
``/engine-rest``, HTTP Basic with the password) of a user with role ``operator`` (``baton users add worker
--role operator`` then ``baton tokens create worker``).
"""

from __future__ import annotations

import re

READ = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = READ | WRITE

#: paths anyone may open, signed in or not
PUBLIC = [re.compile(p) for p in (r"/login", r"/static/.*", r"/healthz", r"/api/v1/health", r"/favicon\.ico")]

_I = r"[^/]+"  # one path segment (an id, a key)

#: (methods, path regex, minimum role); the first match decides
RULES: list[tuple[frozenset[str], re.Pattern[str], str]] = [
    (frozenset({"POST"}), re.compile(r"/logout"), "user"),
    # user: start instances, work on tasks, send messages and signals
    (frozenset({"POST"}), re.compile(r"/api/v1/instances"), "user"),
    (frozenset({"POST"}), re.compile(rf"/api/v1/(definitions|process-definitions)/({_I}/)*start"), "user"),
    (frozenset({"POST"}), re.compile(rf"/processes/({_I}/)*start"), "user"),
    (frozenset({"POST"}), re.compile(rf"(/api/v1)?/tasks/{_I}(/(complete|claim|unclaim|form))?"), "user"),
    (frozenset({"POST"}), re.compile(r"/api/v1/(messages|signals)"), "user"),
    (frozenset({"POST"}), re.compile(rf"/instances/{_I}/messages?"), "user"),
    # attaching an artifact: operators, or (checked by the view) the assignee of one of the instance's tasks
    (frozenset({"POST"}), re.compile(rf"/api/v1/instances/{_I}/artifacts"), "user"),
    # the same for the Camunda-compatible API (web/engine_rest): the role the equivalent /api/v1 call needs
    (frozenset({"POST"}), re.compile(rf"/engine-rest/process-definition/(key/)?{_I}/start"), "user"),
    (frozenset({"POST"}), re.compile(rf"/engine-rest/task/{_I}/(complete|claim|unclaim)"), "user"),
    (frozenset({"POST"}), re.compile(r"/engine-rest/(message|signal)"), "user"),
    (WRITE, re.compile(r"/engine-rest/(deployment|process-definition)(/.*)?"), "admin"),
    # admin: deploy, users and tokens
    (ANY, re.compile(r"/deploy(/.*)?"), "admin"),
    (ANY, re.compile(r"/users(/.*)?"), "admin"),
    (ANY, re.compile(r"/api/v1/(users|tokens)(/.*)?"), "admin"),
    (WRITE, re.compile(r"/api/v1/(definitions|deployments|process-definitions)(/.*)?"), "admin"),
    (WRITE, re.compile(r"/processes(/.*)?"), "admin"),
    # operator: cancel, suspend, resume, retry, variables, jobs, incidents, external workers
    (WRITE, re.compile(r"/api/v1/external-tasks(/.*)?"), "operator"),
    (WRITE, re.compile(r"(/api/v1)?/instances/.*"), "operator"),
    (WRITE, re.compile(r"(/api/v1)?/(incidents|jobs|circuits)(/.*)?"), "operator"),
    # everything else: reading needs a signed-in user, changing needs an operator
    (READ, re.compile(r".*"), "user"),
    (WRITE, re.compile(r".*"), "operator"),
]


def is_public(path: str) -> bool:
    return any(p.fullmatch(path) for p in PUBLIC)


def required_role(method: str, path: str) -> str | None:
    """The least role that may make this request; None for a public path."""
    if is_public(path):
        return None
    for methods, pattern, role in RULES:
        if method in methods and pattern.fullmatch(path):
            return role
    return "operator"  # a method no rule names (TRACE, PROPFIND...)
