"""Pure compute: sources, detection, quality, alignment, embedding, tracking, search, privacy.

No database, web or service imports here (enforced by import-linter).
"""
