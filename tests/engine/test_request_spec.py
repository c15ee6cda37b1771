"""loadtui.engine.request_spec and loadtui.targets.scenario: what each request is, checked before
any work, and the exact bytes it becomes (unit tier: no process, no socket)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtui.engine import request_spec
from loadtui.engine.request_spec import RequestSpec, Shape, SpecError, from_command_line, payloads
from loadtui.targets import scenario


def wire(spec: RequestSpec, host: str = "127.0.0.1:8000") -> list[str]:
    return [p.decode() for p in payloads(spec, host)]


# ---- the command line, as curl spells it -----------------------------------------------------
def test_a_plain_get_is_what_the_engine_always_sent():
    (sent,) = wire(from_command_line("/ping", Shape()))
    assert sent.startswith("GET /ping HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert sent.endswith("Accept: */*\r\n\r\n")


def test_data_without_a_method_is_a_json_post():
    spec = from_command_line("/orders", Shape(data='{"item": "tea", "qty": 2}'))
    (sent,) = wire(spec)
    head, _, body = sent.partition("\r\n\r\n")
    assert head.startswith("POST /orders HTTP/1.1")
    assert "Content-Type: application/json" in head and "Content-Length: 25" in head
    assert body == '{"item": "tea", "qty": 2}'


def test_headers_are_sent_and_a_given_content_type_wins():
    shape = Shape(method="put", headers=("Authorization: Bearer x", "Content-Type: text/plain"),
                  data="{}")  # fmt: skip
    (sent,) = wire(from_command_line("/doc", shape))
    assert sent.startswith("PUT /doc HTTP/1.1")
    assert "Authorization: Bearer x" in sent and "Content-Type: text/plain" in sent
    assert "application/json" not in sent


def test_data_from_a_file(tmp_path):
    (tmp_path / "body.json").write_text('{"a": 1}')
    shape = Shape(data=f"@{tmp_path / 'body.json'}")
    assert wire(from_command_line("/x", shape))[0].endswith('\r\n\r\n{"a": 1}')


def test_non_ascii_is_percent_encoded_and_a_fragment_dropped():
    (sent,) = wire(from_command_line("/café/straße?q=ü#top", Shape()))
    assert sent.startswith("GET /caf%C3%A9/stra%C3%9Fe?q=%C3%BC HTTP/1.1\r\n")


def test_ipv6_hosts_are_bracketed():
    assert request_spec.host_header("::1", 8000, 80) == "[::1]:8000"
    assert request_spec.host_header("localhost", 443, 443) == "localhost"


@pytest.mark.parametrize(
    ("shape", "path", "words"),
    [
        (Shape(), "/a\r\nX-Smuggled: 1", "control character"),
        (Shape(headers=("X-A: b\r\nX-Smuggled: 1",)), "/a", "control character"),
        (Shape(headers=("no colon here",)), "/a", "no colon"),
        (Shape(headers=("Bad Name: 1",)), "/a", "not a valid HTTP header name"),
        (Shape(method="GE T"), "/a", "not an HTTP method"),
        (Shape(data="@/no/such/file"), "/a", "cannot read"),
        (Shape(expect="200,abc"), "/a", "not a status code"),
        (Shape(expect="700"), "/a", "not an HTTP status"),
        (Shape(), "/items/{item_id}", "no data file"),
    ],
)
def test_bad_request_options_are_one_line(shape, path, words):
    with pytest.raises(SpecError, match=words) as caught:
        from_command_line(path, shape)
    assert "\n" not in str(caught.value)


# ---- data that varies ------------------------------------------------------------------------
def test_rows_fill_path_and_body_templates_one_request_each(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"item_id": 7, "name": "tea \\"green\\""}\n{"item_id": 8, "name": "café"}\n')
    shape = Shape(method="POST", data='{"name": "{{name}}", "id": {{item_id}}}', data_file=rows)
    sent = wire(from_command_line("/items/{item_id}", shape))
    assert [s.split(" ")[1] for s in sent] == ["/items/7", "/items/8"]
    bodies = [json.loads(s.partition("\r\n\r\n")[2]) for s in sent]
    assert bodies == [{"name": 'tea "green"', "id": 7}, {"name": "café", "id": 8}]


def test_csv_rows_and_a_missing_field_is_named(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("item_id\n1\n2\n")
    assert len(wire(from_command_line("/items/{item_id}", Shape(data_file=rows)))) == 2
    with pytest.raises(SpecError, match=r"row 1 has no sku"):
        from_command_line("/items/{sku}", Shape(data_file=rows))


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("rows.jsonl", '{"a": 1}\nnot json\n', r"rows.jsonl:2: not a JSON line"),
        ("rows.jsonl", "[1, 2]\n", r"rows.jsonl:1: a row must be a JSON object"),
        ("rows.jsonl", "\n\n", "no rows"),
        ("rows.csv", "a,b\n1,2,3\n", r"rows.csv:2: not as many cells"),
    ],
)
def test_malformed_data_files_name_file_and_line(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(SpecError, match=words):
        request_spec.rows(tmp_path / name)


# ---- scenarios -------------------------------------------------------------------------------
SCENARIO = """
headers = { Authorization = "Bearer secret" }

[[requests]]
name = "list"
path = "/orders"
weight = 3

[[requests]]
name = "create"
path = "/orders"
json = { item = "{{item}}", qty = 1 }
data_file = "items.jsonl"
expect = [201]
"""


def test_a_scenario_is_named_weighted_requests(tmp_path):
    (tmp_path / "items.jsonl").write_text('{"item": "tea"}\n')
    (tmp_path / "mix.toml").write_text(SCENARIO)
    listed, created = scenario.load(tmp_path / "mix.toml")
    assert (listed.name, listed.method, listed.weight) == ("list", "GET", 3.0)
    assert (created.method, created.expect) == ("POST", frozenset({201}))
    (sent,) = wire(created)
    assert "Authorization: Bearer secret" in sent
    assert json.loads(sent.partition("\r\n\r\n")[2]) == {"item": "tea", "qty": 1}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[requests]\nname=", "not TOML"),
        ("title = 1", "unknown key 'title'"),
        ("[[requests]]\nname = 'a'\npath = '/a'\nweight = 0", "weight 0 is not a positive"),
        ("[[requests]]\nname = 'a'\npath = '/a'\nweight = 'x'", "weight 'x' is not a positive"),
        ("[[requests]]\nname = 'a'\npath = '/a'\ncolour = 1", "unknown key 'colour'"),
        (
            "[[requests]]\nname = 'a'\npath = '/a'\n[[requests]]\nname = 'a'\npath = '/b'",
            "two requests are named 'a'",
        ),
        ("[[requests]]\nname = 'a'\npath = '/a/{id}'", "names id but has no data file"),
        ("[[requests]]\nname = 'a'\npath = '/a'\ndata_file = 'none.jsonl'", "cannot read"),
    ],
)
def test_bad_scenarios_are_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=words) as caught:
        scenario.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_scenario_is_one_line(tmp_path: Path):
    with pytest.raises(SpecError, match="cannot read"):
        scenario.load(tmp_path / "nowhere.toml")


def test_an_operation_takes_the_command_lines_headers_over_its_examples():
    from loadtui.targets.openapi import Operation
    from loadtui.targets.target import parse_target
    from loadtui.tui.route_choices import _operation

    operation = Operation("POST", "/orders", "", (), "application/json", {"qty": 1})
    given = request_spec.shaped(
        Shape(headers=("content-type: application/json; charset=utf-8", "X-Token: t"))
    )
    choice = _operation(parse_target("http://127.0.0.1:8000", "/"), operation, given)
    assert choice is not None and choice.shape is not None
    assert choice.shape.headers == (
        ("content-type", "application/json; charset=utf-8"),
        ("X-Token", "t"),
    )
    assert json.loads(choice.shape.body or b"") == {"qty": 1}
