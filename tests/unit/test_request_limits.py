"""The request schemas bound every list and mapping before loading its elements; error lists are capped."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields

from addin_api import schemas
from addin_api.errors import MAX_ERRORS, ValidationFailed, capped_errors
from addin_api.schemas import BoundedDict, BoundedList, TrackEmailSchema

REQUEST_SCHEMAS = [
    value
    for value in vars(schemas).values()
    if isinstance(value, type) and issubclass(value, schemas.Strict) and value is not schemas.Strict
]


def collections(schema: Schema, where: str = "") -> list[tuple[str, fields.Field]]:
    """Every List and Dict field of `schema` and of the schemas it nests, with its dotted name."""
    found = []
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(field, fields.List | fields.Dict):
            found.append((where + name, field))
        if isinstance(inner, fields.Nested):
            found += collections(inner.schema, f"{where}{name}.")
    return found


def test_there_are_request_schemas_with_collections() -> None:
    """The check below has something to check: the track schemas hold lists."""
    assert {"to", "cc", "bcc", "attachments"} <= {name for name, _ in collections(TrackEmailSchema())}


@pytest.mark.parametrize("schema", REQUEST_SCHEMAS, ids=lambda s: s.__name__)
def test_every_list_and_mapping_is_bounded(schema: type[Schema]) -> None:
    """No request schema has a List or Dict whose length is only checked after its elements are loaded."""
    unbounded = [name for name, field in collections(schema()) if not isinstance(field, BoundedList | BoundedDict)]
    assert [] == unbounded


def test_a_long_list_is_refused_before_its_elements_are_loaded() -> None:
    """100 000 invalid elements answer one message about the length, not 100 000 element errors."""

    class Probe(Schema):
        items = BoundedList(fields.Nested(schemas.AddressSchema), max_length=3)

    with pytest.raises(ValidationError) as caught:
        Probe().load({"items": [{}] * 100_000})
    assert {"items": ["Longer than maximum length 3."]} == caught.value.messages


def test_a_list_at_its_maximum_still_loads_its_elements() -> None:
    """At the maximum, the elements are validated as before."""

    class Probe(Schema):
        items = BoundedList(fields.Nested(schemas.AddressSchema), max_length=3)

    with pytest.raises(ValidationError) as caught:
        Probe().load({"items": [{}] * 3})
    assert {0, 1, 2} == set(caught.value.messages["items"])


def test_a_large_mapping_is_refused_before_its_keys_are_loaded() -> None:
    """A mapping over its key limit answers one message, whatever its keys and values."""

    class Probe(Schema):
        values = BoundedDict(max_keys=2, keys=fields.Integer(), values=fields.Integer())

    with pytest.raises(ValidationError) as caught:
        Probe().load({"values": {f"not a number {i}": "nor this" for i in range(10_000)}})
    assert {"values": ["Longer than maximum length 2."]} == caught.value.messages


def test_capped_errors_keep_the_first_messages_in_order() -> None:
    """The first `limit` messages are kept, nested as they were; the count of the others is returned."""
    errors: dict[str, Any] = {"a": ["1", "2"], "b": {"0": {"c": ["3"]}, "1": {"c": ["4"]}}, "d": ["5"]}
    assert ({"a": ["1", "2"], "b": {"0": {"c": ["3"]}}}, 2) == capped_errors(errors, limit=3)
    assert (errors, 0) == capped_errors(errors, limit=5)


def test_capped_errors_cut_long_names() -> None:
    """A field name the client chose is cut to 64 characters."""
    shown, omitted = capped_errors({"x" * 1000: ["Unknown field."]})
    assert ({"x" * 64 + "…": ["Unknown field."]}, 0) == (shown, omitted)


def test_validation_failed_shows_at_most_max_errors() -> None:
    """The problem document of 100 000 mistakes holds MAX_ERRORS messages and says how many it left out."""
    extra = ValidationFailed({f"k{i}": ["Unknown field."] for i in range(100_000)}).extra()
    assert MAX_ERRORS == len(extra["errors"])
    assert 100_000 - MAX_ERRORS == extra["errorsOmitted"]
