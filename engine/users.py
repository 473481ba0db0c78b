"""People who sign in, and their API tokens.

A user has a unique name, a role (``user`` < ``operator`` < ``admin``, see :data:`ROLES`), the groups whose
tasks they may work on, and a password stored only as a werkzeug scrypt hash.  A disabled user keeps their
row (history names them) but can neither sign in nor use their tokens.

An API token is ``baton_`` plus 43 random URL-safe characters.  It is shown once, when it is created; the
database keeps only its SHA-256, so a stolen database does not hand out working tokens.  ``last_used_at``
is refreshed at most once a minute, so API calls do not each cost a write.

Mixed into :class:`engine.runtime.Engine` (:class:`UsersMixin`); every method is one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import AuthenticationFailed, TokenNotFound, TokenRevoked, UserError, UserExists, UserNotFound
from .records import Record
from .store.queries import as_utc
from .store.tables import ApiToken as ApiTokenRow
from .store.tables import User as UserRow

users = cast(Table, UserRow.__table__)
tokens = cast(Table, ApiTokenRow.__table__)

#: the roles, least to most allowed: each may do what the ones before it may
ROLES = ("user", "operator", "admin")
TOKEN_PREFIX = "baton_"
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_TOUCH_EVERY = dt.timedelta(minutes=1)
NO_PASSWORD = "!"  # the hash of an account that only uses API tokens: no password matches it
# checked against when the user is unknown, so a wrong name takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


def role_rank(role: str) -> int:
    """0 for ``user``, 1 for ``operator``, 2 for ``admin`` (-1 for anything else)."""
    return ROLES.index(role) if role in ROLES else -1


@dataclass(frozen=True)
class User(Record):
    """A person (never carries the password hash)."""

    id: int
    name: str
    role: str
    groups: list[str]
    created_at: dt.datetime | None
    disabled_at: dt.datetime | None = None
    #: changes when the password does: sessions remember it and end when it changes (not shown anywhere)
    stamp: str = field(default="", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.pop("stamp", None)
        return out

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def at_least(self, role: str) -> bool:
        """True when this user's role is ``role`` or a more allowed one."""
        return role_rank(self.role) >= role_rank(role)

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(id=row.id, name=row.name, role=row.role, groups=list(row.groups or []),
                   created_at=as_utc(row.created_at), disabled_at=as_utc(row.disabled_at),
                   stamp=hashlib.sha256(row.password_hash.encode()).hexdigest()[:16])


@dataclass(frozen=True)
class ApiToken(Record):
    """An API token's metadata (the secret itself is only returned by :meth:`UsersMixin.create_token`)."""

    id: str
    user: str
    name: str
    created_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiToken:
        return cls(id=row.id, user=row.user_name, name=row.name, created_at=as_utc(row.created_at),
                   last_used_at=as_utc(row.last_used_at), revoked_at=as_utc(row.revoked_at))


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}", role=role)
    return role


def check_groups(groups: Iterable[str]) -> list[str]:
    out: list[str] = []
    for group in groups:
        group = group.strip()
        if not group or len(group) > 255 or "," in group:
            raise UserError(f"group {group!r} must be 1 to 255 characters without a comma", group=group)
        if group not in out:
            out.append(group)
    return out


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


class UsersMixin:
    """Users, passwords and API tokens (see the module docstring)."""

    _tx: Any
    now: Callable[[], dt.datetime]

    # ---- users -------------------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str | None, groups: Iterable[str] = ()) -> User:
        """Create a user; the name must be new, the role one of :data:`ROLES`.

        ``password`` None makes an account that cannot sign in to the pages, only use API tokens (a worker).
        """
        if not _NAME.match(name):
            raise UserError(f"user name {name!r} must be 1 to 100 letters, digits, '.', '_', '@' or '-'",
                            name=name)
        values = dict(name=name, role=check_role(role), groups=check_groups(groups), created_at=self.now(),
                      password_hash=NO_PASSWORD if password is None else
                      generate_password_hash(check_password(password), method="scrypt"))
        with self._tx() as conn:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
                raise UserExists(f"a user named {name!r} exists already", name=name)
            conn.execute(insert(users).values(**values))
            return User.from_row(self._user_row(conn, name))

    def users(self) -> list[User]:
        with self._tx() as conn:
            return [User.from_row(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def get_user(self, name: str) -> User:
        with self._tx() as conn:
            return User.from_row(self._user_row(conn, name))

    def get_user_by_id(self, user_id: int) -> User | None:
        with self._tx() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return User.from_row(row) if row is not None else None

    def update_user(self, name: str, role: str | None = None, groups: Iterable[str] | None = None,
                    password: str | None = None, disabled: bool | None = None) -> User:
        """Change what is given: role, groups, password, or disable (True) / enable (False) the user."""
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = check_role(role)
        if groups is not None:
            values["groups"] = check_groups(groups)
        if password is not None:
            values["password_hash"] = generate_password_hash(check_password(password), method="scrypt")
        with self._tx() as conn:
            row = self._user_row(conn, name)
            if disabled is not None:
                values["disabled_at"] = (row.disabled_at or self.now()) if disabled else None
            if values:
                conn.execute(update(users).where(users.c.id == row.id).values(**values))
            return User.from_row(self._user_row(conn, name))

    def set_password(self, name: str, password: str) -> User:
        return self.update_user(name, password=password)

    def disable_user(self, name: str) -> User:
        """The user can no longer sign in, and their tokens stop working (sessions end at their next request)."""
        return self.update_user(name, disabled=True)

    def verify_password(self, name: str, password: str) -> User:
        """The user, when the name and password match an enabled user; else :class:`AuthenticationFailed`."""
        with self._tx() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None or row.password_hash == NO_PASSWORD:
            check_password_hash(_DUMMY_HASH, password)
            raise AuthenticationFailed("wrong user name or password")
        if not check_password_hash(row.password_hash, password) or row.disabled_at is not None:
            raise AuthenticationFailed("wrong user name or password")
        return User.from_row(row)

    def ensure_admin(self, name: str = "admin", password: str | None = None) -> str | None:
        """Create the first admin when no enabled admin exists; the password used (generated when not given).

        Returns None when an admin exists already (nothing is changed).
        """
        with self._tx() as conn:
            found = conn.execute(select(users.c.id).where(users.c.role == "admin",
                                                          users.c.disabled_at.is_(None))).first()
        if found is not None:
            return None
        password = password or secrets.token_urlsafe(12)
        self.add_user(name, "admin", password)
        return password

    def _user_row(self, conn: Any, name: str) -> Any:
        row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise UserNotFound(f"no user is named {name!r}", name=name)
        return row

    # ---- API tokens --------------------------------------------------------------------------------------

    def create_token(self, user: str, name: str = "api") -> tuple[ApiToken, str]:
        """A new token for ``user``: its record and the secret, which is never shown again."""
        name = name.strip()
        if not name or len(name) > 255:
            raise UserError("a token name must be 1 to 255 characters", field="name")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = str(uuid.uuid4())
        with self._tx() as conn:
            owner = self._user_row(conn, user)
            conn.execute(insert(tokens).values(id=token_id, user_id=owner.id, name=name, created_at=self.now(),
                                               token_hash=hash_token(secret)))
            return ApiToken.from_row(self._token_rows(conn, token_id=token_id)[0]), secret

    def tokens(self, user: str | None = None) -> list[ApiToken]:
        """Every token (of ``user`` when given), revoked ones included, oldest first."""
        with self._tx() as conn:
            if user is not None:
                self._user_row(conn, user)
            return [ApiToken.from_row(r) for r in self._token_rows(conn, user=user)]

    def revoke_token(self, token_id: str) -> ApiToken:
        with self._tx() as conn:
            found = self._token_rows(conn, token_id=token_id)
            if not found:
                raise TokenNotFound(f"no API token has id {token_id!r}", token_id=token_id)
            if found[0].revoked_at is None:
                conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=self.now()))
            return ApiToken.from_row(self._token_rows(conn, token_id=token_id)[0])

    def verify_token(self, secret: str) -> User:
        """The enabled user a token belongs to; :class:`TokenRevoked` / :class:`AuthenticationFailed` if none."""
        now = self.now()
        with self._tx() as conn:
            row = conn.execute(
                select(tokens.c.id.label("token_id"), tokens.c.revoked_at, tokens.c.last_used_at, users)
                .join(users, users.c.id == tokens.c.user_id).where(tokens.c.token_hash == hash_token(secret))
            ).first()
            if row is None:
                raise AuthenticationFailed("the API token is not valid")
            if row.revoked_at is not None:
                raise TokenRevoked(f"the API token was revoked at {as_utc(row.revoked_at):%Y-%m-%d %H:%M} UTC")
            if row.disabled_at is not None:
                raise AuthenticationFailed(f"user {row.name!r} is disabled")
            last = as_utc(row.last_used_at)
            if last is None or now - last >= _TOUCH_EVERY:
                conn.execute(update(tokens).where(tokens.c.id == row.token_id).values(last_used_at=now))
            return User.from_row(row)

    @staticmethod
    def _token_rows(conn: Any, user: str | None = None, token_id: str | None = None) -> list[Any]:
        query = select(tokens, users.c.name.label("user_name")).join(users, users.c.id == tokens.c.user_id)
        if user is not None:
            query = query.where(users.c.name == user)
        if token_id is not None:
            query = query.where(tokens.c.id == token_id)
        return list(conn.execute(query.order_by(tokens.c.created_at, tokens.c.id)))
