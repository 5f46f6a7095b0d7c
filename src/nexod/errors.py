"""Errors Nexod raises on purpose.

Hierarchy::

    NexodError                 root; carries a message meant for the user
    ├── ConfigError            bad setting or config file; stops start-up
    ├── NotFound               a resource (assistant, thread, run, item…) does not exist
    ├── Conflict               the request clashes with current state (busy thread, duplicate id)
    │   └── IdTaken            a client-chosen id is in use (by this tenant or, unsaid, another)
    ├── InvalidInput           the request is well-formed JSON but asks for something impossible
    │   ├── PayloadTooLarge    an upload over the size limit
    │   └── UnsupportedType    an upload of a file type no parser handles
    ├── Unavailable            a backend the request needs is not installed or not reachable
    ├── Unauthenticated        no credential, or one that is expired, revoked or forged
    └── Forbidden              a known caller asks for something its role or grants do not allow

Only ``nexod.api`` maps these to HTTP status codes (404, 409, 413, 415, 422, 503, 401, 403). A
resource of another tenant is always NotFound, never Forbidden.
"""

from __future__ import annotations


class NexodError(Exception):
    """Root of every error Nexod raises deliberately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(NexodError):
    """A setting, environment variable or config file is wrong; start-up cannot go on."""


class NotFound(NexodError):
    """The named resource does not exist (or belongs to another tenant)."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} '{ident}' not found")
        self.kind = kind
        self.ident = ident


class Conflict(NexodError):
    """The request conflicts with the current state of a resource."""


class IdTaken(Conflict):
    """A create names an id that is already in use: HTTP 409, one body for every case.

    Ids are global: assistants, threads and runs have one primary key across tenants, and
    LangGraph checkpoints are keyed by the thread id alone. So an id another tenant holds
    cannot be handed to this one, and scoping ids per tenant would mean translating every id
    in every request, response and checkpoint. Instead, a create under a taken id answers
    exactly what LangGraph Server answers for a duplicate id of the caller's own: 409 with
    ``"<kind> '<id>' already exists"``, whether the holder is the caller's organisation or
    another, whatever ``if_exists`` / ``if_not_exists`` asked for. The answer names no owner,
    returns and changes nothing of the other tenant's resource, and reads the same row as a
    free id does (no timing difference worth the name). The one bit it gives away, "this id
    is in use", needs the id already: ids are UUIDs (122 random bits), so they cannot be
    enumerated; every read of the id stays a 404.
    """

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} '{ident}' already exists")
        self.kind = kind
        self.ident = ident


class InvalidInput(NexodError):
    """The request is syntactically valid but cannot be carried out as asked."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(InvalidInput):
    """The upload is bigger than the configured limit."""


class UnsupportedType(InvalidInput):
    """No parser handles this kind of file."""


class Unavailable(NexodError):
    """A backend the request needs (model, vector store) is missing or down."""


class Unauthenticated(NexodError):
    """The request carries no valid credential; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not authenticated: {reason}")
        self.reason = reason


class Forbidden(NexodError):
    """The caller is known but lacks the permission the request needs."""

    def __init__(self, permission: str, what: str) -> None:
        super().__init__(f"permission '{permission}' is needed to {what}")
        self.permission = permission
