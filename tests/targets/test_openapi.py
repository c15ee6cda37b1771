"""loadtui.targets.openapi, examples and scenario_writer: an OpenAPI document's operations joined
to the server's root once (never a doubled prefix), each asked with values that pass the app's
checks (a valid uuid, date, email, a number within its bounds, the document's own examples),
form bodies sent and written as the scenario file takes them."""

from __future__ import annotations

import datetime
import json
import tomllib
import uuid

import pytest
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

from loadtui.engine.plan import LoadPlan
from loadtui.run.rundoc import Summary
from loadtui.run.spec import RunSpec
from loadtui.targets import examples, openapi
from loadtui.targets.openapi import example_path, example_request, operations, server_path
from loadtui.targets.openapi_source import LINK, OpenAPIError, _document, given
from loadtui.targets.scenario_writer import scenario_toml
from loadtui.targets.target import joined, parse_target
from loadtui.tui.widgets.render import fallback

ROOT = parse_target("http://127.0.0.1:8000", "/")
PREFIXED = parse_target("http://127.0.0.1:8000/api/v1", "/")


def document(paths: dict, **extra) -> dict:
    return {"openapi": "3.1.0", "paths": paths, **extra}


def value(schema: dict):
    return examples.value_of({}, schema)


# ---- values by format and type ----------------------------------------------------------------
def test_strings_by_format_pass_their_checks():
    assert uuid.UUID(value({"type": "string", "format": "uuid"})).version == 4
    datetime.date.fromisoformat(value({"type": "string", "format": "date"}))
    datetime.datetime.fromisoformat(value({"type": "string", "format": "date-time"}))
    assert value({"type": "string", "format": "email"}) == "user@example.com"
    assert value({"type": "string", "format": "uri"}).startswith("https://")
    assert value({"type": "string", "pattern": "^password$"}) == "password"
    assert value({"type": "string", "pattern": "^[a-z]+\\d$"}) == "string"  # not a literal
    assert value({"type": "string", "minLength": 10}) == "s" * 10
    assert value({"type": "string", "maxLength": 3}) == "str"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": 5, "maximum": 9}, 5),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "integer", "exclusiveMinimum": 1}, 2),  # OpenAPI 3.1
        ({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 2),  # OpenAPI 3.0
        ({"type": "number", "exclusiveMaximum": 0}, -0.5),
        ({"type": "integer", "minimum": 2, "multipleOf": 5}, 5),
        ({"type": "integer"}, 1),
        ({"type": "boolean"}, True),
        ({"enum": ["b", "a"]}, "b"),
        ({"type": "integer", "default": 7, "minimum": 5}, 7),
        ({"type": "string", "examples": ["given"]}, "given"),
        ({"type": ["string", "null"], "format": "date"}, "2024-01-01"),
        (
            {"anyOf": [{"type": "null"}, {"type": "string", "format": "uuid"}]},
            examples.FORMATS["uuid"],
        ),
    ],
)
def test_values_follow_the_type_its_bounds_and_the_documents_own(schema, expected):
    assert value(schema) == expected


def test_a_documents_value_that_is_not_plain_bounded_json_is_not_used():
    assert value({"type": "number", "example": float("nan")}) == 1.0
    assert value({"type": "string", "example": "x" * 5000}) == "string"
    huge = {"type": "array", "items": {"type": "integer"}, "example": list(range(10_000))}
    assert value(huge) == [1]


def test_an_object_sends_its_required_properties_and_the_others_the_document_fills():
    schema = {
        "type": "object",
        "required": ["id", "on"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "on": {"type": "string", "format": "date"},
            "note": {"type": "string", "pattern": "^[A-Z]{3}$"},  # optional, nothing given
            "kind": {"type": "string", "default": "plain"},
        },
    }
    assert value(schema) == {"id": examples.FORMATS["uuid"], "on": "2024-01-01", "kind": "plain"}


# ---- paths: prefixes joined once --------------------------------------------------------------
@pytest.mark.parametrize(
    ("prefix", "path", "expected"),
    [
        ("/api/v1", "/api/v1/items/", "/api/v1/items/"),
        ("/api/v1", "/items/", "/api/v1/items/"),
        ("/api/v1/", "/api/v1", "/api/v1"),
        ("/api", "/apis/x", "/api/apis/x"),  # a prefix is whole segments
        ("", "/items/", "/items/"),
    ],
)
def test_a_prefix_is_joined_once(prefix, path, expected):
    assert joined(prefix, path) == expected


def test_a_route_as_routes_lists_it_is_not_prefixed_again_by_the_target():
    spec = RunSpec("/api/v1/items/", LoadPlan(users=1), target=PREFIXED)
    assert spec.path() == "/api/v1/items/"
    assert RunSpec("/items/", LoadPlan(users=1), target=PREFIXED).path() == "/api/v1/items/"
    assert parse_target("http://127.0.0.1:8000/api", "/apis").route == "/api/apis"


def test_operations_are_from_the_servers_root_whatever_the_target_and_servers_say():
    doc_paths = {"/api/v1/items/": {"get": {}}}
    bare_paths = {"/items/": {"get": {}}}
    for target in (ROOT, PREFIXED):
        assert [o.path for o in operations(document(doc_paths), target)] == ["/api/v1/items/"]
    assert [o.path for o in operations(document(bare_paths), PREFIXED)] == ["/api/v1/items/"]
    assert [o.path for o in operations(document(bare_paths), ROOT)] == ["/items/"]
    for servers in ([{"url": "/api/v1"}], [{"url": "https://example.com/api/v1/"}]):
        for target in (ROOT, PREFIXED):
            found = operations(document(bare_paths, servers=servers), target)
            assert [o.path for o in found] == ["/api/v1/items/"]


@pytest.mark.parametrize(
    "servers",
    [[{"url": "/{base}"}], [{"url": "/a\nb"}], [{"url": 3}], ["/api"], [], {"url": "/api"}],
)
def test_a_servers_url_that_is_not_a_plain_path_is_left_out(servers):
    assert server_path(document({}, servers=servers)) == ""


def test_path_and_required_query_parameters_are_filled_by_format():
    uuid_ = {"type": "string", "format": "uuid"}
    date = {"type": "string", "format": "date"}
    raw = {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": uuid_},
            {"name": "day", "in": "query", "required": True, "schema": date},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 5}},
            {"name": "q", "in": "query", "required": True, "examples": {"a": {"value": "a/b {c}"}}},
            {"name": "X-Key", "in": "header", "required": True, "example": "k1"},
        ]
    }
    (operation,) = operations(document({"/items/{id}/{undescribed}": {"get": raw}}), PREFIXED)
    request = example_request(operation)
    assert request.path == (
        f"/api/v1/items/{examples.FORMATS['uuid']}/1?day=2024-01-01&q=a%2Fb%20%7Bc%7D"
    )
    assert request.headers == (("X-Key", "k1"),)
    assert example_path(operation) == request.path


# ---- bodies ------------------------------------------------------------------------------------
LOGIN_FORM = {  # FastAPI's OAuth2PasswordRequestForm, as FastAPI writes it
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "grant_type": {"anyOf": [{"type": "string", "pattern": "^password$"}, {"type": "null"}]},
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "scope": {"type": "string", "default": ""},
        "client_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
DATE = {"type": "string", "format": "date"}
UPLOAD_FORM = {
    "type": "object",
    "required": ["file", "note"],
    "properties": {
        "file": {"type": "string", "contentMediaType": "application/octet-stream"},
        "note": {"type": "string"},
        "old": {"type": "string", "format": "binary", "default": "x"},
    },
}


def body_operation(media: str, schema: dict) -> openapi.Operation:
    raw = {"requestBody": {"content": {media: {"schema": {"$ref": "#/components/schemas/B"}}}}}
    doc = document({"/login": {"post": raw}}, components={"schemas": {"B": schema}})
    (operation,) = operations(doc, ROOT)
    return operation


def test_a_form_login_is_sent_as_a_form_with_its_required_fields():
    request = example_request(body_operation("application/x-www-form-urlencoded", LOGIN_FORM))
    assert request.body == b"username=string&password=string&scope="
    assert request.headers == (("Content-Type", "application/x-www-form-urlencoded"),)


def test_a_multipart_body_is_sent_with_an_example_file_in_each_upload_field():
    request = example_request(body_operation("multipart/form-data", UPLOAD_FORM))
    form = request.multipart
    assert form is not None and request.body is None
    assert [(p.name, p.filename, p.content, p.text) for p in form.parts] == [
        ("file", "upload.txt", openapi.UPLOAD_CONTENT, ""),
        ("note", None, None, "string"),
        ("old", "upload.txt", openapi.UPLOAD_CONTENT, ""),
    ]
    assert request.headers == (("Content-Type", f"multipart/form-data; boundary={form.boundary}"),)


def test_the_scenario_writes_forms_and_multipart_as_tables():
    found = [
        body_operation("application/x-www-form-urlencoded", LOGIN_FORM),
        body_operation("multipart/form-data", UPLOAD_FORM),
        body_operation("application/json", {"required": ["on"], "properties": {"on": DATE}}),
    ]
    written = tomllib.loads(scenario_toml(PREFIXED, found, "http://127.0.0.1:8000/o.json"))
    login, upload, created = written["requests"]
    assert login["form"] == {"username": "string", "password": "string", "scope": ""}
    assert "headers" not in login and "data" not in login  # the form's loader writes its type
    assert upload["multipart"] == {"file": "@upload.txt", "note": "string", "old": "@upload.txt"}
    assert json.loads(created["data"]) == {"on": "2024-01-01"}
    assert created["headers"] == {"Content-Type": "application/json"}


def test_the_scenario_is_valid_toml_whatever_the_document_names():
    names = ["emoji \U0001f600", "del \x7f", 'quote " back \\ nl \n', "tab\t"]
    schemas = [
        {"required": [n], "properties": {n: {"type": "string", "example": n}}} for n in names
    ]
    found = [body_operation("application/x-www-form-urlencoded", schema) for schema in schemas]
    written = tomllib.loads(scenario_toml(ROOT, found, "where"))
    assert [r["form"] for r in written["requests"]] == [{n: n} for n in names]


# ---- finding the document ----------------------------------------------------------------------
def test_the_docs_pages_link_is_read_from_fastapis_own_pages():
    swagger = get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="t").body.decode()
    redoc = get_redoc_html(openapi_url="/internal/spec.json", title="t").body.decode()
    assert [m.group(2) for m in LINK.finditer(swagger)] == ["/api/v1/openapi.json"]
    assert [m.group(2) for m in LINK.finditer(redoc)] == ["/internal/spec.json"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>", "is not JSON"),
        (b'{"swagger": "2.0", "paths": {}}', "is Swagger 2, not OpenAPI 3"),
        (b'{"openapi": "3.0.3"}', "no paths"),
        (b'{"paths": {}}', "not an OpenAPI 3 document"),
        (b"[1]", "not an OpenAPI document"),
        (b" " * (9 * 2**20), "larger than 8 MB"),
    ],
)
def test_a_document_that_is_not_openapi_3_is_refused_saying_why(body, words):
    with pytest.raises(OpenAPIError, match=words):
        _document("where", body)


def test_the_openapi_option_is_a_url_on_a_permitted_host_a_file_or_a_path_on_the_target(tmp_path):
    (tmp_path / "o.json").write_text("{}")
    (tmp_path / "my docs.json").write_text("{}")
    assert given(str(tmp_path / "o.json"), PREFIXED) == str(tmp_path / "o.json")
    assert given(str(tmp_path / "my docs.json"), PREFIXED) == str(tmp_path / "my docs.json")
    assert given("/api/v1/openapi.json", PREFIXED) == "http://127.0.0.1:8000/api/v1/openapi.json"
    assert given("http://localhost:9/o.json", PREFIXED) == "http://localhost:9/o.json"
    for text, words in [
        ("http://192.0.2.1/o.json", "192.0.2.1 is not loopback"),
        ("ftp://127.0.0.1/o.json", "http:// or https://"),
        ("nowhere.json", "no such file"),
        ("http://127.0.0.1:x/o.json", "not a URL"),
        ("http://127.0.0.1/a b.json", "a space in a URL"),
        ("/a\nb.json", "a control character"),
    ]:
        with pytest.raises(OpenAPIError, match=words):
            given(text, PREFIXED)
    remote = parse_target("http://192.0.2.1:8000", "/", allow_remote=True)
    assert given("http://192.0.2.1:8000/o.json", remote) == "http://192.0.2.1:8000/o.json"


# ---- the pane, on a fallback -------------------------------------------------------------------
def summary(requests: int, **errors: int) -> Summary:
    return Summary.model_validate(
        {"requests": requests, "errors": sum(errors.values()), "errors_by_kind": errors,
         "duration_s": 1, "rps": 1, "latency_ms": {}}
    )  # fmt: skip


def test_a_fallback_route_says_how_it_was_chosen_and_what_it_answers():
    quiet = fallback("/", "no OpenAPI document at X", summary(0), 200)
    assert [line.plain for line in quiet] == [
        "i  /: loaded as a fallback: no OpenAPI document at X; give --route PATH or --openapi URL"
    ]
    failing = fallback("/", "no OpenAPI document", summary(40, http_404=38, timeout=2), 60)
    text = " ".join(line.plain.strip() for line in failing)
    assert text.startswith("!! / answered HTTP 404 (38 of 40): loaded as a fallback")
    assert all(line.cell_len <= 60 for line in failing)
    assert fallback("/\x1b[2J", "x", summary(1, http_500=1), 80)[0].plain.startswith(
        "!! /\\x1b[2J answered HTTP 500"
    )
