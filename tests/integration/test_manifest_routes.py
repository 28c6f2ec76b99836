"""The manifest as the service serves it: every URL it names resolves, and it renders for this deployment."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from addin_api.api import taskpane
from addin_api.manifest import render_manifest

CLIENT_ID = "0b9b7e8c-3f3e-4c55-9a43-7d6a55b0f2d1"
OFFICE_APP = "http://schemas.microsoft.com/office/appforoffice/1.1"
VO_1_1 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"


def manifest_urls(xml: str) -> set[str]:
    """Every URL the manifest points Outlook at."""
    root = ET.fromstring(xml)
    urls = {v for e in root.iter() for v in e.attrib.values() if v.startswith(("http://", "https://"))}
    urls |= {e.text.strip() for e in root.iter() if e.text and e.text.strip().startswith(("http://", "https://"))}
    return urls


def test_every_url_in_the_manifest_resolves_on_the_service(app: Flask, client: FlaskClient) -> None:
    """The pane, the function file, the icons and the support page are all served by this service."""
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    base = "https://127.0.0.1:5000"
    urls = manifest_urls(render_manifest(base, CLIENT_ID))
    assert len(urls) >= 7
    problems = []
    for url in sorted(urls):
        parts = urlsplit(url)
        assert base == f"{parts.scheme}://{parts.netloc}", url
        if not parts.path:
            continue  # the AppDomain
        with client.get(parts.path) as response:
            if response.status_code != 200:
                problems.append((url, response.status_code))
    assert [] == problems


def test_get_manifest_renders_for_this_deployment(app: Flask, client: FlaskClient) -> None:
    """`GET /manifest.xml` uses ADDIN_API_PUBLIC_URL and ADDIN_API_CLIENT_ID."""
    if "taskpane" not in app.blueprints:
        app.register_blueprint(taskpane.bp)
    settings = app.extensions["addin_api"].settings
    response = client.get("/manifest.xml")
    assert (200, "application/xml") == (response.status_code, response.mimetype)
    root = ET.fromstring(response.data)
    info = root.find(f".//{{{VO_1_1}}}WebApplicationInfo")
    assert info is not None and settings.client_id == info.findtext(f"{{{VO_1_1}}}Id")
    source = root.find(f".//{{{OFFICE_APP}}}SourceLocation")
    assert source is not None and f"{settings.public_url}/taskpane.html" == source.get("DefaultValue")
