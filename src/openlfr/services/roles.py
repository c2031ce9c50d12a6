"""Roles (ARCHITECTURE.md P8) as the governance services check them.

Callers pass the role of an authenticated user: the API takes it from the session or bearer
token, the CLI from a user's password (:func:`openlfr.services.users.authenticate`) or API token
(``openlfr.cli._gov.principal``). No caller states a role of its own choosing.
"""

from __future__ import annotations

from openlfr.errors import AuthError, InputError

ROLES = ("admin", "supervisor", "operator", "auditor")

MAY_AUTHORISE = ("supervisor",)
"""Only a supervisor authorises a deployment (issue 5)."""
MAY_VIEW_IMAGES = ("admin", "supervisor", "operator")
"""Auditors read reports and the audit log but never see a face."""
MAY_ADJUDICATE = ("supervisor", "operator")
MAY_HOLD = ("admin", "supervisor")


def check_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="bad_role")
    return role


def require_role(role: str, allowed: tuple[str, ...], action: str) -> str:
    role = check_role(role)
    if role not in allowed:
        err = AuthError(f"role {role!r} may not {action} (needs {' or '.join(allowed)})", code="forbidden")
        err.http_status = 403
        raise err
    return role
