"""SQLite storage of the emulated Dataverse (placeholder)."""

from pathlib import Path

from addin_api.devstack.config import DevConfig


class DataverseStore:
    """Placeholder store."""

    def __init__(self, db_path: Path, config: DevConfig) -> None:
        self.db_path = db_path
        self.config = config

    def reset(self) -> None:
        """Back to the seeded state."""
