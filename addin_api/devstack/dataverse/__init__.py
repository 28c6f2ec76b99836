"""Emulated Dataverse Web API v9.2 (placeholder until the emulator lands)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the Web API routes under /api/data/v9.2/."""
