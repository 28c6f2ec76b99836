"""Render the Outlook add-in manifest (XML, MailApp) for one deployment from the shipped template."""

from __future__ import annotations

import uuid
from importlib import resources
from string import Template
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

# The add-in's manifest <Id> is derived from the Entra client id, so each deployment gets its own stable id.
MANIFEST_ID_NAMESPACE = uuid.UUID("5d0b7c1e-2f4a-4c8e-9b61-7a3e0f4d2c19")
DEFAULT_DISPLAY_NAME = "Dynamics 365 tracking"
DEFAULT_PROVIDER = "addin-api"
DEFAULT_VERSION = "1.0.0.0"


def template_text() -> str:
    """Read the manifest template shipped with the package, the one source of every rendered manifest."""
    return resources.files("addin_api").joinpath("static/manifest/manifest.xml").read_text(encoding="utf-8")


def sso_resource(base_url: str, client_id: str) -> str:
    """The Application ID URI Office SSO requests a token for: `api://<host[:port]>/<client id>`."""
    # https://learn.microsoft.com/office/dev/add-ins/develop/register-sso-add-in-aad-v2
    return f"api://{urlsplit(base_url).netloc}/{client_id}"


def render_manifest(
    base_url: str,
    client_id: str,
    *,
    addin_id: str | None = None,
    display_name: str = DEFAULT_DISPLAY_NAME,
    provider: str = DEFAULT_PROVIDER,
    version: str = DEFAULT_VERSION,
) -> str:
    """The manifest for a deployment whose pane and assets are served at `base_url` (https in production)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("base_url must be an absolute http(s) URL")
    client = str(uuid.UUID(client_id))
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    values = {
        "base_url": base,
        "client_id": client,
        "resource": sso_resource(base, client),
        "addin_id": str(uuid.UUID(addin_id)) if addin_id else str(uuid.uuid5(MANIFEST_ID_NAMESPACE, client)),
        "display_name": display_name[:125],
        "provider": provider[:125],
        "version": version,
    }
    quoted = {key: escape(value, {'"': "&quot;"}) for key, value in values.items()}
    return Template(template_text()).substitute(quoted)
