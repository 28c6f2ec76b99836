"""Dataverse Web API access: one HTTP client (`client`), OData helpers (`odata`), `$batch` (`batch`), limits."""
