"""Users, logins, sessions and API tokens (ARCHITECTURE.md P8).

- No default account: the first admin is created explicitly (``openlfr user create --role admin``
  or the one-time setup token ``openlfr serve`` prints while no user exists).
- Passwords are hashed with argon2id (argon2-cffi); at least ``MIN_PASSWORD`` characters.
- A console login is a random session token (the cookie) stored as its SHA-256 digest, with a
  CSRF token, an absolute lifetime and an idle time-out. Scripts use bearer API tokens, also stored
  as digests and shown once.
- Login throttling: after ``LOCK_AFTER`` consecutive failures an account is locked for 30 s,
  doubling with each further failure up to 15 minutes (the API adds a per-client limit).
- Every login, failed login, logout, user change and token change is in the audit log.
- API tokens expire (``OPENLFR_TOKEN_DAYS``, default 90 days, is both the default and the longest
  lifetime). A password reset or a deactivation by an admin ends the user's sessions and revokes
  their API tokens; changing one's own password ends one's other sessions. Admins list and revoke
  any user's tokens.
- The CLI authenticates role-restricted commands with :func:`authenticate` (the same password
  check, throttling and audit as a console login, without opening a session) or a token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.errors import AuthError, ConflictError, InputError, NotFoundError
from openlfr.services.context import AppContext
from openlfr.services.results import Page
from openlfr.services.roles import ROLES
from openlfr.storage import audit
from openlfr.storage.models_users import ApiToken, LoginSession, User
from openlfr.storage.repos.users import UserRepo

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_BASE_S = 30.0
LOCK_MAX_S = 900.0
SESSION_HOURS = 12.0
SESSION_IDLE_HOURS = 2.0
_TOUCH_EVERY = timedelta(seconds=60)
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}$")
TOKEN_PREFIX = "olfr_"  # noqa: S105 - a public prefix, not a secret

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _iso(dt: datetime | None) -> str | None:
    d = _utc(dt)
    return None if d is None else d.isoformat()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _forbidden(message: str) -> AuthError:
    err = AuthError(message, code="forbidden")
    err.http_status = 403
    return err


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in console user (``via="session"``) or a script (``via="token"``)."""

    user_id: int
    username: str
    role: str
    display_name: str
    via: str
    csrf_token: str | None = None
    session_id: int | None = None
    token_id: int | None = None


@dataclass(frozen=True)
class UserRecord:
    """A user as shown to admins (never the password hash). Times are ISO 8601 (UTC) or None."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    created_by: str | None
    created_at: str | None
    last_login_at: str | None
    locked_until: str | None
    """Set while logins are refused after repeated failures."""


UserPage = Page[UserRecord]


@dataclass(frozen=True)
class TokenRecord:
    """An API token's record (never the token itself): ``prefix`` is its first 12 characters."""

    id: int
    name: str
    prefix: str
    user_id: int
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    active: bool


@dataclass(frozen=True)
class NewToken(TokenRecord):
    token: str
    """The bearer token itself: in this result once, never stored."""


TokenList = Page[TokenRecord]


@dataclass(frozen=True)
class TokensRevoked:
    user: str
    revoked: int
    """How many tokens this call revoked."""


@dataclass(frozen=True)
class TokenRevoked(TokensRevoked):
    token: TokenRecord


def user_record(u: User) -> UserRecord:
    return UserRecord(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        active=u.active,
        created_by=u.created_by,
        created_at=_iso(u.created_at),
        last_login_at=_iso(u.last_login_at),
        locked_until=_iso(u.locked_until),
    )


def check_password_policy(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password must be at least {MIN_PASSWORD} characters", code="weak_password")
    if len(password) > 1000:
        raise InputError("password is too long (max 1000 characters)", code="weak_password")
    if username and password.strip().lower() == username.strip().lower():
        raise InputError("password must differ from the username", code="weak_password")
    if password.strip().lower() in {"changeme123", "password123", "openlfr1234", "administrator"}:
        raise InputError("that password is too common", code="weak_password")


def _check_username(username: str) -> str:
    username = username.strip()
    if not _USERNAME.match(username):
        raise InputError("username: 1-100 letters, digits, '.', '_', '@' or '-'", code="bad_username")
    return username


def _check_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="bad_role")
    return role


# ---------------------------------------------------------------- users


def count_users(ctx: AppContext) -> int:
    with ctx.db.session() as s:
        return UserRepo(s).count()


def create_user(
    ctx: AppContext,
    username: str,
    password: str,
    role: str,
    actor: str,
    display_name: str = "",
    only_if_none: bool = False,
) -> UserRecord:
    """Create a user. ``only_if_none``: refuse unless there is no user yet (first-run setup)."""
    username = _check_username(username)
    role = _check_role(role)
    check_password_policy(password, username)
    pw_hash = _hasher.hash(password)
    try:
        with ctx.db.session() as s:
            if only_if_none and UserRepo(s).count() > 0:
                raise ConflictError("setup is done: a user already exists", code="setup_done")
            u = User(
                username=username,
                display_name=display_name.strip() or username,
                role=role,
                password_hash=pw_hash,
                active=True,
                created_by=actor,
            )
            s.add(u)
            s.flush()
            audit.record(s, actor, "user.create", "user", u.id, {"username": username, "role": role})
            return user_record(u)
    except IntegrityError:
        raise ConflictError(f"a user named {username!r} already exists", code="user_exists") from None


def list_users(ctx: AppContext, limit: int = 100, offset: int = 0) -> UserPage:
    with ctx.db.session() as s:
        users = UserRepo(s)
        return UserPage([user_record(u) for u in users.page(limit, offset)], users.count())


def _get_user(s: Session, ref: int | str) -> User:
    users = UserRepo(s)
    u: User | None = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        u = users.get(int(ref))
    if u is None and isinstance(ref, str):
        u = users.by_name(ref.strip())
    if u is None:
        raise NotFoundError(f"no user {ref!r}", code="user_not_found")
    return u


def get_user(ctx: AppContext, ref: int | str) -> UserRecord:
    with ctx.db.session() as s:
        return user_record(_get_user(s, ref))


def update_user(
    ctx: AppContext,
    ref: int | str,
    actor: str,
    *,
    role: str | None = None,
    active: bool | None = None,
    display_name: str | None = None,
    password: str | None = None,
) -> UserRecord:
    """Change a user's role, active flag, display name or password (an admin's action).
    A changed role, deactivation or new password ends the user's sessions."""
    with ctx.db.session() as s:
        u = _get_user(s, ref)
        changes: dict[str, Any] = {}
        if role is not None:
            role = _check_role(role)
            if role != u.role:
                changes["role"] = [u.role, role]
                u.role = role
        if active is not None and active != u.active:
            changes["active"] = [u.active, active]
            u.active = active
        if display_name is not None and display_name.strip() != u.display_name:
            changes["display_name"] = True
            u.display_name = display_name.strip() or u.username
        if password is not None:
            check_password_policy(password, u.username)
            u.password_hash = _hasher.hash(password)
            u.password_changed_at = _now()
            u.failed_logins, u.locked_until = 0, None
            changes["password"] = "reset"  # noqa: S105
        s.flush()
        if UserRepo(s).active_admins() == 0:
            raise ConflictError("this would leave no active admin", code="last_admin")
        if {"role", "active", "password"} & set(changes):
            UserRepo(s).delete_sessions(u.id)
        if "password" in changes or ("active" in changes and not u.active):
            changes["tokens_revoked"] = _revoke_all(s, u.id)
        if changes:
            audit.record(s, actor, "user.update", "user", u.id, {"username": u.username, "changes": changes})
        return user_record(u)


def delete_user(ctx: AppContext, ref: int | str, actor: str) -> UserRecord:
    with ctx.db.session() as s:
        u = _get_user(s, ref)
        out = user_record(u)
        s.delete(u)
        s.flush()
        if UserRepo(s).active_admins() == 0:
            raise ConflictError("this would leave no active admin", code="last_admin")
        audit.record(s, actor, "user.delete", "user", out.id, {"username": out.username})
        return out


def change_password(ctx: AppContext, user_id: int, old: str, new: str, keep_session_id: int | None = None) -> int:
    """Change one's own password; every other console session of the user ends (the one with
    ``keep_session_id``, the caller's, may continue) and every API token of the user is revoked.
    Returns the number of sessions ended."""
    with ctx.db.session() as s:
        u = _get_user(s, user_id)
        try:
            _hasher.verify(u.password_hash, old)
        except (VerificationError, InvalidHashError):
            raise AuthError("the current password is wrong", code="bad_credentials") from None
        check_password_policy(new, u.username)
        u.password_hash = _hasher.hash(new)
        u.password_changed_at = _now()
        ended = UserRepo(s).delete_sessions(u.id, keep=keep_session_id)
        # API tokens go too: a password change is what a user does when they fear their account is
        # known to someone else, and a token made by that someone must not outlive it
        revoked = _revoke_all(s, u.id)
        audit.record(
            s,
            u.username,
            "user.password_change",
            "user",
            u.id,
            {"other_sessions_ended": ended, "tokens_revoked": revoked},
        )
        return ended


# ---------------------------------------------------------------- login and sessions


def _lock_seconds(failures: int) -> float:
    if failures < LOCK_AFTER:
        return 0.0
    return float(min(LOCK_MAX_S, LOCK_BASE_S * 2.0 ** (failures - LOCK_AFTER)))


def _check_password(
    s: Session, username: str, password: str, client: str, now: datetime
) -> tuple[User | None, AuthError | None]:
    """The password check shared by console logins and the CLI: (user, None) on success, else
    (None, error). Failures are audited and counted; the caller raises after its commit."""
    u = UserRepo(s).by_name(username) if username else None
    locked = u is not None and u.locked_until is not None and _utc(u.locked_until) > now  # type: ignore[operator]
    if u is None or locked or not u.active:
        # Same work whether or not the account exists (no user enumeration by timing).
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            pass
        why = "locked" if locked else ("inactive" if u is not None else "unknown user")
        audit.record(
            s, username or "-", "auth.login_failed", "user", u.id if u else "", {"reason": why, "client": client}
        )
        if locked:
            err = AuthError("too many failed logins: try again later", code="login_throttled")
            err.http_status = 429
            return None, err
        return None, AuthError("wrong username or password", code="bad_credentials")
    try:
        _hasher.verify(u.password_hash, password)
    except (VerificationError, VerifyMismatchError, InvalidHashError):
        u.failed_logins += 1
        lock = _lock_seconds(u.failed_logins)
        if lock:
            u.locked_until = now + timedelta(seconds=lock)
        audit.record(
            s,
            username,
            "auth.login_failed",
            "user",
            u.id,
            {"reason": "wrong password", "failures": u.failed_logins, "locked_for_s": lock, "client": client},
        )
        return None, AuthError("wrong username or password", code="bad_credentials")
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)
    u.failed_logins, u.locked_until, u.last_login_at = 0, None, now
    return u, None


def login(ctx: AppContext, username: str, password: str, client: str = "") -> tuple[str, Principal]:
    """Check a password; on success open a session and return (session token, principal).
    Failures are audited and counted; a locked account is refused with ``login_throttled``."""
    now = _now()
    username = username.strip()[:100]
    with ctx.db.session() as s:
        u, err = _check_password(s, username, password, client, now)
        if u is not None:
            token = secrets.token_urlsafe(32)
            sess = LoginSession(
                token_hash=digest(token),
                user_id=u.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
                client=client[:100],
            )
            s.add(sess)
            s.flush()
            audit.record(s, u.username, "auth.login", "user", u.id, {"role": u.role, "client": client})
            return token, Principal(
                u.id, u.username, u.role, u.display_name, "session", csrf_token=sess.csrf_token, session_id=sess.id
            )
    assert err is not None
    raise err


def authenticate(ctx: AppContext, username: str, password: str, client: str = "cli") -> Principal:
    """Check a user's password without opening a session (the CLI's role-restricted commands):
    the same throttling and audit as :func:`login`; the principal's ``via`` is ``"password"``."""
    now = _now()
    username = username.strip()[:100]
    with ctx.db.session() as s:
        u, err = _check_password(s, username, password, client, now)
        if u is not None:
            audit.record(
                s, u.username, "auth.login", "user", u.id, {"role": u.role, "client": client, "session": False}
            )
            return Principal(u.id, u.username, u.role, u.display_name, "password")
    assert err is not None
    raise err


def session_principal(ctx: AppContext, token: str) -> Principal | None:
    """The principal of a live session cookie, or None (unknown, expired, idle, inactive user)."""
    if not token or len(token) > 200:
        return None
    now = _now()
    with ctx.db.session() as s:
        row = UserRepo(s).session_with_user(digest(token))
        if row is None:
            return None
        sess, u = row
        if (
            not u.active
            or _utc(sess.expires_at) <= now  # type: ignore[operator]
            or _utc(sess.last_seen_at) + timedelta(hours=SESSION_IDLE_HOURS) <= now  # type: ignore[operator]
        ):
            s.delete(sess)
            return None
        if now - _utc(sess.last_seen_at) > _TOUCH_EVERY:  # type: ignore[operator]
            sess.last_seen_at = now
        return Principal(
            u.id, u.username, u.role, u.display_name, "session", csrf_token=sess.csrf_token, session_id=sess.id
        )


def logout(ctx: AppContext, token: str) -> None:
    with ctx.db.session() as s:
        users = UserRepo(s)
        sess = users.session_by_hash(digest(token))
        if sess is None:
            return
        u = users.get(sess.user_id)
        s.delete(sess)
        audit.record(s, u.username if u else "-", "auth.logout", "user", sess.user_id, {})


def purge_expired_sessions(ctx: AppContext) -> int:
    now = _now()
    with ctx.db.session() as s:
        return UserRepo(s).delete_expired_sessions(now)


# ---------------------------------------------------------------- API tokens


def _token_fields(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "user_id": t.user_id,
        "created_at": _iso(t.created_at),
        "expires_at": _iso(t.expires_at),
        "last_used_at": _iso(t.last_used_at),
        "revoked_at": _iso(t.revoked_at),
        "active": t.revoked_at is None,
    }


def _token_record(t: ApiToken) -> TokenRecord:
    return TokenRecord(**_token_fields(t))


def token_lifetime_days(ctx: AppContext) -> float:
    """The default and longest lifetime of an API token (``OPENLFR_TOKEN_DAYS``)."""
    return float(ctx.settings.token_days)


def create_token(
    ctx: AppContext, user_ref: int | str, actor: str, name: str = "", expires_days: float | None = None
) -> NewToken:
    """A new bearer token for the user; the token itself is in the result once, never stored.
    Every token expires: after ``expires_days``, at most (and by default) ``OPENLFR_TOKEN_DAYS``."""
    longest = token_lifetime_days(ctx)
    if expires_days is None:
        expires_days = longest
    if not 0 < expires_days <= longest:
        raise InputError(f"expires_days must be in (0, {longest:g}] (OPENLFR_TOKEN_DAYS)", code="bad_expiry")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with ctx.db.session() as s:
        u = _get_user(s, user_ref)
        if not u.active:
            raise ConflictError(f"user {u.username!r} is not active", code="user_inactive")
        t = ApiToken(
            token_hash=digest(token),
            prefix=token[:12],
            name=name.strip()[:200],
            user_id=u.id,
            created_at=now,
            expires_at=now + timedelta(days=expires_days),
        )
        s.add(t)
        s.flush()
        audit.record(
            s,
            actor,
            "token.create",
            "api_token",
            t.id,
            {"user": u.username, "name": t.name, "expires_at": _iso(t.expires_at)},
        )
        return NewToken(**_token_fields(t), token=token)


def list_tokens(ctx: AppContext, user_id: int | None = None) -> TokenList:
    with ctx.db.session() as s:
        rows = [_token_record(t) for t in UserRepo(s).tokens(user_id)]
        return TokenList(rows, len(rows))


def _revoke_all(s: Session, user_id: int) -> int:
    """Revoke every live token of a user (in the caller's transaction); returns how many."""
    now = _now()
    n = 0
    for t in UserRepo(s).live_tokens(user_id):
        t.revoked_at = now
        n += 1
    return n


def list_user_tokens(ctx: AppContext, user_ref: int | str) -> TokenList:
    """An admin's view of one user's tokens (never the tokens themselves)."""
    with ctx.db.session() as s:
        u = _get_user(s, user_ref)
        rows = [_token_record(t) for t in UserRepo(s).tokens(u.id)]
        return TokenList(rows, len(rows))


def revoke_user_tokens(ctx: AppContext, user_ref: int | str, actor: str) -> TokensRevoked:
    """An admin revokes every token of a user (audited)."""
    with ctx.db.session() as s:
        u = _get_user(s, user_ref)
        n = _revoke_all(s, u.id)
        audit.record(s, actor, "token.revoke_all", "user", u.id, {"user": u.username, "revoked": n})
        return TokensRevoked(u.username, n)


def revoke_user_token(ctx: AppContext, user_ref: int | str, actor: str, token_id: int) -> TokenRevoked:
    """An admin revokes one token of a user (audited; revoking a revoked token revokes none)."""
    with ctx.db.session() as s:
        u = _get_user(s, user_ref)
        t = UserRepo(s).token(token_id) if 0 <= token_id <= 2_147_483_647 else None
        if t is None or t.user_id != u.id:
            raise NotFoundError(f"user {u.username!r} has no API token {token_id}", code="token_not_found")
        n = 0
        if t.revoked_at is None:
            t.revoked_at = _now()
            n = 1
            audit.record(s, actor, "token.revoke", "api_token", t.id, {"user_id": u.id, "user": u.username})
        return TokenRevoked(u.username, n, _token_record(t))


def revoke_token(ctx: AppContext, token_id: int, actor: Principal) -> TokenRecord:
    with ctx.db.session() as s:
        t = UserRepo(s).token(token_id)
        if t is None or (t.user_id != actor.user_id and actor.role != "admin"):
            raise NotFoundError(f"no API token {token_id}", code="token_not_found")
        if t.revoked_at is None:
            t.revoked_at = _now()
            audit.record(s, actor.username, "token.revoke", "api_token", t.id, {"user_id": t.user_id})
        return _token_record(t)


def token_principal(ctx: AppContext, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = _now()
    with ctx.db.session() as s:
        row = UserRepo(s).token_with_user(digest(token))
        if row is None:
            return None
        t, u = row
        # Tokens made before every token had an expiry end ``OPENLFR_TOKEN_DAYS`` after creation.
        expires = _utc(t.expires_at)
        if expires is None:
            expires = (_utc(t.created_at) or now) + timedelta(days=token_lifetime_days(ctx))
        if t.revoked_at is not None or not u.active or expires <= now:
            return None
        if t.last_used_at is None or now - _utc(t.last_used_at) > _TOUCH_EVERY:  # type: ignore[operator]
            t.last_used_at = now
        return Principal(u.id, u.username, u.role, u.display_name, "token", token_id=t.id)


def require(principal: Principal, allowed: tuple[str, ...], action: str) -> Principal:
    if principal.role not in allowed:
        raise _forbidden(f"role {principal.role!r} may not {action} (needs {' or '.join(allowed)})")
    return principal
