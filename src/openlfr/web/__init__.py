"""Operator console: Jinja templates and static JS on the public JSON API."""
