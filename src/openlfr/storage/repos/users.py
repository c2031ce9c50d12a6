"""Users, their console sessions and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from openlfr.storage.models_users import ApiToken, LoginSession, User


class UserRepo:
    """Queries over users, login sessions and API tokens in one open session."""

    def __init__(self, s: Session) -> None:
        self.s = s

    # ------------------------------------------------------------ users

    def get(self, user_id: int) -> User | None:
        return self.s.get(User, user_id)

    def by_name(self, username: str) -> User | None:
        return self.s.scalar(select(User).where(User.username == username))

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(User)) or 0)

    def page(self, limit: int, offset: int) -> list[User]:
        """Users in username order."""
        return list(self.s.scalars(select(User).order_by(User.username).limit(limit).offset(offset)))

    def active_admins(self) -> int:
        """How many active users have the admin role."""
        q = select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
        return int(self.s.scalar(q) or 0)

    # ------------------------------------------------------------ sessions

    def session_by_hash(self, token_hash: str) -> LoginSession | None:
        return self.s.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash))

    def session_with_user(self, token_hash: str) -> tuple[LoginSession, User] | None:
        """The login session with this token digest and its user."""
        row = self.s.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == token_hash)
        ).first()
        return None if row is None else (row[0], row[1])

    def delete_sessions(self, user_id: int, keep: int | None = None) -> int:
        """End every session of a user except the one with id ``keep``; returns how many ended."""
        q = delete(LoginSession).where(LoginSession.user_id == user_id)
        if keep is not None:
            q = q.where(LoginSession.id != keep)
        return int(self.s.execute(q).rowcount or 0)  # type: ignore[attr-defined]

    def delete_expired_sessions(self, now: datetime) -> int:
        """Delete sessions whose absolute lifetime ended by ``now``; returns how many."""
        # "fetch": sessions loaded in this session are dropped by id (SQLite returns naive times, which
        # Python cannot compare with ``now`` to evaluate the criteria in memory)
        q = delete(LoginSession).where(LoginSession.expires_at <= now).execution_options(synchronize_session="fetch")
        res = self.s.execute(q)
        return int(res.rowcount or 0)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ API tokens

    def token(self, token_id: int) -> ApiToken | None:
        return self.s.get(ApiToken, token_id)

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """API tokens in id order, of one user or of all."""
        q = select(ApiToken).order_by(ApiToken.id)
        if user_id is not None:
            q = q.where(ApiToken.user_id == user_id)
        return list(self.s.scalars(q))

    def live_tokens(self, user_id: int) -> list[ApiToken]:
        """A user's tokens not yet revoked."""
        q = select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        return list(self.s.scalars(q))

    def token_with_user(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The API token with this digest and its user."""
        row = self.s.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_hash)
        ).first()
        return None if row is None else (row[0], row[1])
