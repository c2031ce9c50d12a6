"""Roles (ARCHITECTURE.md P8) as the governance services check them.

Until the console issue brings users, sessions and passwords, a caller states its role
explicitly (the CLI's ``--as-role`` option or ``OPENLFR_ROLE``) and the services refuse actions
the role may not take. This is a guard against mistakes, not authentication: the API layer
will derive the role from the logged-in user and pass it to the same functions.
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
