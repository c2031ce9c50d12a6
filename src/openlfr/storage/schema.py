"""The whole schema: importing this registers every table on :data:`Base` (core lists and embeddings, governance,
users), so foreign keys across the three model modules resolve. The model modules import only ``storage.base``."""

from __future__ import annotations

from openlfr.storage import models, models_gov, models_users
from openlfr.storage.base import Base

__all__ = ["Base", "models", "models_gov", "models_users"]
