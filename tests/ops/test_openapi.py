"""The OpenAPI document describes exactly the routes the app serves, with schemas, errors and security; the docs
page and its assets are served locally."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from apispec.ext.marshmallow import resolver
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema
from openapi_spec_validator import validate

from addin_api.api.declare import Declaration, declaration_of
from addin_api.openapi import documented_methods, openapi_path
from addin_api.schemas.responses import CODES_BY_STATUS

DOCUMENTED_PREFIXES = ("/api/v1/", "/graph/", "/healthz", "/readyz")
TEMPLATE_VARIABLE = re.compile(r"{([^{}]+)}")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def served(app: Flask) -> set[tuple[str, str]]:
    """(path, method) for every rule of the app under the documented prefixes."""
    return {
        (openapi_path(rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(DOCUMENTED_PREFIXES)
        for method in documented_methods(rule)
    }


def declared(app: Flask) -> Iterator[tuple[str, str, Declaration]]:
    """(path, method, declaration) of every declared rule."""
    for rule in app.url_map.iter_rules():
        declaration = declaration_of(app.view_functions[rule.endpoint])
        if declaration is not None:
            for method in documented_methods(rule):
                yield openapi_path(rule.rule), method, declaration


def spec_of(client: FlaskClient) -> dict[str, Any]:
    """The served document."""
    response = client.get("/api/v1/openapi.json")
    assert (200, "application/json") == (response.status_code, response.mimetype)
    document: dict[str, Any] = response.get_json()
    return document


def field_names(schema: Schema) -> set[str]:
    """The JSON names of a schema's fields."""
    return {field.data_key or name for name, field in schema.fields.items()}


def component(document: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The component schema a `$ref` points at."""
    found: dict[str, Any] = document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]
    return found


def assert_documents(document: dict[str, Any], reference: dict[str, Any], schema: Schema, where: str) -> None:
    """`reference` is the component named after `schema`, with exactly its fields."""
    assert f"#/components/schemas/{resolver(schema)}" == reference["$ref"], where
    assert field_names(schema) == set(component(document, reference)["properties"]), where


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask, client: FlaskClient) -> None:
    """The url_map under /api/v1 (plus health) and the document's paths and methods are the same set."""
    document = spec_of(client)
    in_spec = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert served(app), "no route to compare"
    assert served(app) == in_spec
    assert served(app) == {(path, method) for path, method, _ in declared(app)}


def test_each_operation_documents_its_declaration(app: Flask, client: FlaskClient) -> None:
    """Body, query, parameters, success and error statuses and security of each operation are its declaration's."""
    document = spec_of(client)
    for path, method, declaration in declared(app):
        where = f"{method.upper()} {path}"
        operation = document["paths"][path][method]
        success = operation["responses"][str(declaration.status)]
        expected_statuses = {declaration.status, *declaration.also, *declaration.other, *declaration.error_statuses()}
        assert {str(s) for s in expected_statuses} == set(operation["responses"]), where
        assert (declaration.summary, [declaration.tag]) == (operation["summary"], operation["tags"]), where
        assert ([{"bearer": []}] if declaration.secured else []) == operation["security"], where
        if declaration.response is not None:
            assert_documents(document, success["content"]["application/json"]["schema"], declaration.response, where)
        if declaration.body is None:
            assert "requestBody" not in operation, where
        else:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert_documents(document, body, declaration.body, where)
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        assert (field_names(declaration.query) if declaration.query else set()) == query, where
        others = [(p["name"], p["in"], p["required"]) for p in parameters if p["in"] != "query"]
        assert [(p.name, p.location, p.required) for p in declaration.params] == others, where


def test_operations_declare_bearer_security_schemas_and_every_error_code(client: FlaskClient) -> None:
    """v1 operations need the bearer scheme; JSON bodies and answers are schema refs; errors list their codes."""
    document = spec_of(client)
    assert {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"} == {
        k: v for k, v in document["components"]["securitySchemes"]["bearer"].items() if k != "description"
    }
    public = {
        *("/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/{asset}", "/healthz", "/readyz"),
        # Graph calls these without a token; each notification's clientState is checked instead.
        *("/graph/notifications", "/graph/lifecycle"),
    }
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert ([] if path in public else [{"bearer": []}]) == operation["security"], where
            if path not in public:
                assert {"401", "403", "422", "429", "503"} <= set(operation["responses"]), where
                for status, answer in operation["responses"].items():
                    if status.startswith("2") and "content" in answer:
                        assert "$ref" in answer["content"]["application/json"]["schema"], where
            if "requestBody" in operation:
                assert "$ref" in operation["requestBody"]["content"]["application/json"]["schema"], where
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and "application/problem+json" in answer.get("content", {}):
                    assert all(f"`{code}`" in answer["description"] for code in CODES_BY_STATUS[int(status)])
    schemas = document["components"]["schemas"]
    assert ["throttled"] == schemas["Problem429"]["allOf"][1]["properties"]["code"]["enum"]
    assert {"Me", "Tracked", "TrackingStatus", "RegardingChanged", "SearchResults", "CreatedRecord", "People"} <= set(
        schemas
    )
    assert {"from", "internetMessageId", "sentAt", "subject"} <= set(schemas["TrackEmail"]["required"])
    assert False is schemas["TrackEmail"]["additionalProperties"]


def references(node: Any) -> Iterator[str]:
    """Every `$ref` in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_the_document_is_valid_openapi_3(client: FlaskClient) -> None:
    """openapi-spec-validator accepts the document when installed; the structural rules are checked either way:
    references resolve, path variables are path parameters, operation ids are unique, answers are described."""
    document = spec_of(client)
    validate(document)
    assert "3.0.3" == document["openapi"] and {"title", "version"} <= set(document["info"])
    targets = set(references(document))
    assert targets and all(t.startswith("#/components/") for t in targets)
    for target in targets:
        kind, name = target.removeprefix("#/components/").split("/")
        assert name in document["components"][kind], target
    operation_ids = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert method in METHODS, where
            operation_ids.append(operation["operationId"])
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert set(TEMPLATE_VARIABLE.findall(path)) == in_path, where
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path"), where
            assert operation["responses"] and all("description" in a for a in operation["responses"].values())
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.parametrize("schema_name", ["TrackEmail", "TrackAppointment", "Regarding", "CreateRecord"])
def test_request_schemas_refuse_unknown_fields_in_the_document(client: FlaskClient, schema_name: str) -> None:
    """Every request body schema says additionalProperties: false, as the schemas' RAISE does."""
    assert False is spec_of(client)["components"]["schemas"][schema_name]["additionalProperties"]


def test_docs_page_and_its_assets_are_served_locally(client: FlaskClient) -> None:
    """The page loads Swagger UI from our own assets (no CDN), under a CSP that allows only this origin."""
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert (200, "text/html") == (page.status_code, page.mimetype)
    assert (
        "https:" not in page.headers["Content-Security-Policy"]
        and "script-src 'self'" in (page.headers["Content-Security-Policy"])
    )
    assert references and all(r.startswith("docs/assets/") for r in references)
    for reference in references:
        asset = client.get(f"/api/v1/{reference}")
        assert (200, True) == (asset.status_code, len(asset.get_data()) > 100), reference
    script = client.get("/api/v1/docs/assets/docs.js").get_data(as_text=True)
    assert "openapi.json" in script and "http" not in script
    missing = client.get("/api/v1/docs/assets/index.j2")
    assert (404, "not_found") == (missing.status_code, missing.get_json()["code"])
