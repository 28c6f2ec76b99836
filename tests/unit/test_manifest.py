"""The add-in manifest: well-formed, the documented namespaces, schema element order, and every URL served."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from addin_api.manifest import render_manifest, template_text

ROOT = Path(__file__).parents[2]
CLIENT_ID = "0b9b7e8c-3f3e-4c55-9a43-7d6a55b0f2d1"
BASE_URL = "https://addin.contoso.example"
OFFICE_APP = "http://schemas.microsoft.com/office/appforoffice/1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
BT = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
VO_1_0 = "http://schemas.microsoft.com/office/mailappversionoverrides"
VO_1_1 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
XSI_TYPE = f"{{{XSI}}}type"
# OfficeApp then the MailApp extension, in XSD order (OfficeAppManifestV1_1.xsd).
# https://learn.microsoft.com/office/dev/add-ins/develop/manifest-element-ordering
OFFICE_APP_ORDER = [
    "Id",
    "AlternateId",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "IconUrl",
    "HighResolutionIconUrl",
    "SupportUrl",
    "AppDomains",
    "Hosts",
    "Requirements",
    "FormSettings",
    "Permissions",
    "Rule",
    "DisableEntityHighlighting",
    "VersionOverrides",
]
REQUIRED = ["Id", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Requirements", "FormSettings", "Rule"]
VO_1_1_ORDER = ["Description", "Requirements", "Hosts", "Resources", "WebApplicationInfo", "EquivalentAddins"]
SURFACES = {
    "MessageReadCommandSurface",
    "MessageComposeCommandSurface",
    "AppointmentOrganizerCommandSurface",
    "AppointmentAttendeeCommandSurface",
}


def local(element: ET.Element) -> str:
    """An element's name without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def in_order(names: list[str], order: list[str]) -> bool:
    """Whether `names` appear in the schema's sequence order, each at most once."""
    positions = [order.index(n) for n in names]
    return positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.fixture()
def root() -> ET.Element:
    """The manifest rendered for a production-like deployment."""
    return ET.fromstring(render_manifest(BASE_URL, CLIENT_ID))


def test_manifest_is_well_formed_with_the_documented_namespaces(root: ET.Element) -> None:
    """OfficeApp 1.1 of type MailApp; VersionOverrides 1.1 nested in 1.0; basic types under `bt:`."""
    assert f"{{{OFFICE_APP}}}OfficeApp" == root.tag
    assert "MailApp" == root.get(XSI_TYPE)
    outer = root.find(f"{{{VO_1_0}}}VersionOverrides")
    assert outer is not None and "VersionOverridesV1_0" == outer.get(XSI_TYPE)
    inner = outer.find(f"{{{VO_1_1}}}VersionOverrides")
    assert inner is not None and "VersionOverridesV1_1" == inner.get(XSI_TYPE)
    assert inner.find(f"{{{VO_1_1}}}Resources/{{{BT}}}Images") is not None
    assert render_manifest(BASE_URL, CLIENT_ID).startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_top_level_elements_follow_the_schema_order(root: ET.Element) -> None:
    """Out-of-order elements make Outlook refuse the manifest; required ones are present."""
    names = [local(child) for child in root]
    assert in_order(names, OFFICE_APP_ORDER), names
    assert [] == [name for name in REQUIRED if name not in names]
    assert uuid.UUID(root.findtext(f"{{{OFFICE_APP}}}Id") or "")
    assert "ReadWriteMailbox" == root.findtext(f"{{{OFFICE_APP}}}Permissions")


def test_version_overrides_order_surfaces_and_requirements(root: ET.Element) -> None:
    """VersionOverrides 1.1: its children in order, the four command surfaces, Mailbox 1.8 for categories."""
    inner = root.find(f"{{{VO_1_0}}}VersionOverrides/{{{VO_1_1}}}VersionOverrides")
    assert inner is not None
    assert in_order([local(c) for c in inner], VO_1_1_ORDER)
    sets = inner.find(f"{{{VO_1_1}}}Requirements/{{{BT}}}Sets")
    assert sets is not None and "1.8" == sets.get("DefaultMinVersion")
    base_set = root.find(f"{{{OFFICE_APP}}}Requirements/{{{OFFICE_APP}}}Sets/{{{OFFICE_APP}}}Set")
    assert base_set is not None and ("Mailbox", "1.8") == (base_set.get("Name"), base_set.get("MinVersion"))
    host = inner.find(f"{{{VO_1_1}}}Hosts/{{{VO_1_1}}}Host")
    assert host is not None and "MailHost" == host.get(XSI_TYPE)
    form_factor = host.find(f"{{{VO_1_1}}}DesktopFormFactor")
    assert form_factor is not None
    assert "FunctionFile" == local(form_factor[0]), "FunctionFile comes before the extension points"
    assert SURFACES == {e.get(XSI_TYPE) for e in form_factor.findall(f"{{{VO_1_1}}}ExtensionPoint")}
    for control in form_factor.iter(f"{{{VO_1_1}}}Control"):
        assert ["Label", "Supertip", "Icon", "Action"] == [local(c) for c in control]
    resources = inner.find(f"{{{VO_1_1}}}Resources")
    assert resources is not None
    assert ["Images", "Urls", "ShortStrings", "LongStrings"] == [local(c) for c in resources]


def test_every_resource_reference_resolves(root: ET.Element) -> None:
    """Each `resid` names a resource defined once."""
    ids = [e.get("id") for e in root.iter() if e.get("id") and local(e) in ("Image", "Url", "String")]
    assert len(ids) == len(set(ids))
    used = {e.get("resid") for e in root.iter() if e.get("resid")}
    assert set() == used - set(ids)


def test_web_application_info_names_the_add_in_app(root: ET.Element) -> None:
    """SSO: the Entra app id and its Application ID URI `api://<host>/<client id>`."""
    info = root.find(f".//{{{VO_1_1}}}WebApplicationInfo")
    assert info is not None
    assert ["Id", "Resource", "Scopes"] == [local(c) for c in info]
    assert CLIENT_ID == info.findtext(f"{{{VO_1_1}}}Id")
    assert f"api://addin.contoso.example/{CLIENT_ID}" == info.findtext(f"{{{VO_1_1}}}Resource")


def test_manifest_values_are_escaped_and_validated() -> None:
    """Display text is XML-escaped; a relative base URL or a non-GUID client id is refused."""
    xml = render_manifest(BASE_URL, CLIENT_ID, display_name='Contoso "CRM" <&>')
    display = ET.fromstring(xml).find(f"{{{OFFICE_APP}}}DisplayName")
    assert display is not None and 'Contoso "CRM" <&>' == display.get("DefaultValue")
    with pytest.raises(ValueError):
        render_manifest("/relative", CLIENT_ID)
    with pytest.raises(ValueError):
        render_manifest(BASE_URL, "not-a-guid")


def test_the_package_holds_the_only_manifest_template() -> None:
    """The template the package renders is the repository's one copy; `manifest/` documents it and holds no other."""
    shipped = ROOT / "addin_api" / "static" / "manifest" / "manifest.xml"
    copies = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("manifest/**/*.xml"))
    assert template_text() == shipped.read_text(encoding="utf-8")
    assert [] == copies
    assert "addin_api/static/manifest/manifest.xml" in (ROOT / "manifest" / "README.md").read_text(encoding="utf-8")
