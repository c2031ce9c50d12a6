"""The counting queries behind deployment statistics and transparency reports (no biometric data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.storage.models import Counter
from openlfr.storage.models_gov import Alert


class ReportQueries:
    """Counters and alert tallies of deployments in one open session."""

    def __init__(self, s: Session) -> None:
        self.s = s

    def counters(self, scope_prefix: str) -> list[tuple[str, str, float]]:
        """(scope, name, value) of every counter whose scope starts with ``scope_prefix``."""
        q = select(Counter.scope, Counter.name, Counter.value).where(Counter.scope.like(scope_prefix + "%"))
        return [(scope, name, float(value)) for scope, name, value in self.s.execute(q)]

    def alert_tally(self, deployment_id: int) -> list[tuple[str | None, str | None, str, int]]:
        """(verdict, outcome, camera, number of alerts) for each combination the deployment's alerts have."""
        q = (
            select(Alert.verdict, Alert.outcome, Alert.camera, func.count())
            .where(Alert.deployment_id == deployment_id)
            .group_by(Alert.verdict, Alert.outcome, Alert.camera)
        )
        return [(verdict, outcome, camera, int(n)) for verdict, outcome, camera, n in self.s.execute(q)]

    def alert_timeline(self, deployment_id: int) -> list[tuple[datetime, str, float, str | None, str | None]]:
        """(occurred at, camera, score, verdict, outcome) of the deployment's alerts in time order."""
        q = (
            select(Alert.occurred_at, Alert.camera, Alert.score, Alert.verdict, Alert.outcome)
            .where(Alert.deployment_id == deployment_id)
            .order_by(Alert.occurred_at)
        )
        return [(at, cam, float(score), verdict, outcome) for at, cam, score, verdict, outcome in self.s.execute(q)]
