"""Every error Baton raises on purpose, in one tree.

::

    BatonError
    ├── ConfigurationError          bad settings or baton.toml
    ├── StorageError                database unreachable, schema missing, driver failure
    │   └── DatabaseUnavailable     the connection was refused or lost: the same call may succeed later
    ├── DeploymentError             a file could not be deployed (file, line, element id)
    │   ├── UnsafeXMLError          entity expansion, DTD, external reference, too large
    │   ├── MalformedXMLError       not well-formed XML
    │   ├── SchemaError             not valid against the BPMN 2.0 / DMN schema
    │   └── ModelError              valid XML, but not a process Baton can run as written
    │       ├── ExpressionError     a JUEL / FEEL expression Baton cannot translate to Python
    │       └── UnsupportedConstruct  a Java delegate, Groovy/JavaScript script, connector...
    ├── NotFoundError
    │   ├── DefinitionNotFound
    │   ├── InstanceNotFound
    │   ├── TaskNotFound
    │   ├── UserNotFound
    │   ├── TokenNotFound
    │   ├── ArtifactNotFound        the instance has no artifact (or no such version) of that name
    │   └── NoSubscription          a message matched no waiting instance and no start event
    ├── ConflictError
    │   ├── ConcurrentModification  someone else changed the instance first
    │   ├── TaskAlreadyCompleted
    │   ├── TaskClaimed             another person has claimed (or is assigned) the task
    │   └── UserExists              a user of that name exists already
    ├── UserError                   a role, user name, group or password Baton does not accept
    ├── AuthenticationFailed        no valid credentials: wrong password, disabled user, unknown token
    │   └── TokenRevoked            the API token was revoked
    ├── AccessDenied                signed in, but the role or the task's assignment does not allow it
    ├── InvalidStateError           the instance is not in a state that allows this
    ├── ArtifactError               an artifact Baton does not accept: a bad name, or above the size limit
    │   └── ArtifactTooLarge
    ├── VariableError               a variable name or value Baton cannot store
    │   └── FormError               submitted values do not fit the task's form (per-field messages)
    ├── ScriptError                 a script or expression broke a rule or raised
    ├── JobNotFound / LockLost      (JobError) a job is gone, or its lease now belongs to another worker
    └── AgentError                  an agent (adapter) call did not succeed
        ├── AgentFailure            it failed: retryable or not, with details (stderr, HTTP body, traceback)
        └── BpmnErrorRaised         it answered with a BPMN error for an error boundary event to catch

Every class carries a stable ``code`` (used by the CLI and the REST API) and a
docstring that is its default message.  Driver and library errors are
translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any


class BatonError(Exception):
    """Baton could not do what was asked."""

    code = "baton_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigurationError(BatonError):
    """The configuration is not valid."""

    code = "configuration_error"


class StorageError(BatonError):
    """The database could not be used."""

    code = "storage_error"


class DatabaseUnavailable(StorageError):
    """The database cannot be reached (connection refused or lost); try again when it is back."""

    code = "database_unavailable"


class DeploymentError(BatonError):
    """The deployment was rejected; nothing from it was stored."""

    code = "deployment_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        element_id: str | None = None,
        **details: Any,
    ) -> None:
        self.file = file
        self.line = line
        self.element_id = element_id
        super().__init__(message, file=file, line=line, element_id=element_id, **details)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.element_id:
            where.append(f"element '{self.element_id}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UnsafeXMLError(DeploymentError):
    """The XML uses a feature Baton refuses for safety (DTD, entities, external references, size)."""

    code = "unsafe_xml"


class MalformedXMLError(DeploymentError):
    """The file is not well-formed XML."""

    code = "malformed_xml"


class SchemaError(DeploymentError):
    """The file is not valid against the BPMN 2.0 (or DMN) schema."""

    code = "schema_invalid"


class ModelError(DeploymentError):
    """The model cannot be executed as written."""

    code = "model_invalid"


class ExpressionError(ModelError):
    """The expression cannot be translated to Python."""

    code = "expression_untranslatable"


class UnsupportedConstruct(ModelError):
    """The element uses a construct Baton cannot run (Java, Groovy, JavaScript, connectors)."""

    code = "unsupported_construct"


class NotFoundError(BatonError):
    """Not found."""

    code = "not_found"


class DefinitionNotFound(NotFoundError):
    """No process definition with that key (and version) is deployed."""

    code = "definition_not_found"


class InstanceNotFound(NotFoundError):
    """No process instance has that id."""

    code = "instance_not_found"


class TaskNotFound(NotFoundError):
    """No task has that id."""

    code = "task_not_found"


class NoSubscription(NotFoundError):
    """No instance waits for this message and no process starts with it."""

    code = "no_subscription"


class UserNotFound(NotFoundError):
    """No user has that name."""

    code = "user_not_found"


class TokenNotFound(NotFoundError):
    """No API token has that id."""

    code = "token_not_found"


class ArtifactNotFound(NotFoundError):
    """The instance has no artifact of that name (or not that version)."""

    code = "artifact_not_found"


class ConflictError(BatonError):
    """The operation conflicts with the current state."""

    code = "conflict"


class ConcurrentModification(ConflictError):
    """The instance was changed by someone else at the same time; nothing was applied, try again."""

    code = "concurrent_modification"


class TaskAlreadyCompleted(ConflictError):
    """The task was already completed."""

    code = "task_already_completed"


class TaskClaimed(ConflictError):
    """Someone else works on this task (it is assigned to them or they claimed it)."""

    code = "task_claimed"


class UserExists(ConflictError):
    """A user of that name exists already."""

    code = "user_exists"


class UserError(BatonError):
    """The role, user name, group or password is not accepted."""

    code = "invalid_user"


class AuthenticationFailed(BatonError):
    """Sign in first: the credentials are missing, wrong, or belong to a disabled user."""

    code = "unauthorized"


class TokenRevoked(AuthenticationFailed):
    """The API token was revoked; create a new one with ``baton tokens create``."""

    code = "token_revoked"


class AccessDenied(BatonError):
    """You are signed in, but your role or the task's assignment does not allow this."""

    code = "forbidden"


class InvalidStateError(BatonError):
    """The instance is not in a state that allows this operation."""

    code = "invalid_state"


class ArtifactError(BatonError):
    """The artifact is not accepted: its name or its content."""

    code = "artifact_error"


class ArtifactTooLarge(ArtifactError):
    """The artifact is larger than the limit (``BATON_ARTIFACT_MAX_BYTES``)."""

    code = "artifact_too_large"


class VariableError(BatonError):
    """A variable name or value cannot be stored."""

    code = "invalid_variable"


class FormError(VariableError):
    """The submitted values do not fit the task's form."""

    code = "invalid_form"


class ScriptError(BatonError):
    """A script or expression failed."""

    code = "script_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        element_id: str | None = None,
        line: int | None = None,
        reason: str | None = None,
        **details: Any,
    ) -> None:
        self.element_id = element_id
        self.line = line
        self.reason = reason
        super().__init__(message, element_id=element_id, line=line, reason=reason, **details)


class JobError(BatonError):
    """The job cannot be used for this."""

    code = "job_error"


class JobNotFound(JobError, NotFoundError):
    """No open job has that id."""

    code = "job_not_found"


class LockLost(JobError, ConflictError):
    """The job is not locked by this worker (its lease expired or another worker holds it); nothing was applied."""

    code = "lock_lost"


class AgentError(BatonError):
    """The agent call did not succeed."""

    code = "agent_error"


class AgentFailure(AgentError):
    """The agent failed.

    ``retryable`` False means a new attempt cannot help (an HTTP 4xx, a bad configuration): the job
    becomes an incident at once.  ``details`` carries what a person needs to see (stderr tail, HTTP body,
    traceback).
    """

    code = "agent_failure"

    def __init__(self, message: str | None = None, *, retryable: bool = True, **details: Any) -> None:
        self.retryable = retryable
        super().__init__(message, **details)


class BpmnErrorRaised(AgentError):
    """The agent answered with a BPMN error (code, message, variables) for an error boundary event."""

    code = "bpmn_error"

    def __init__(self, error_code: str, message: str | None = None,
                 variables: dict[str, Any] | None = None) -> None:
        self.error_code = error_code
        self.variables = dict(variables or {})
        super().__init__(message or f"BPMN error {error_code}", error_code=error_code)
