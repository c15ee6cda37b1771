"""loadtui.engine.bodies with loadtui.engine.request_spec and loadtui.targets.scenario: bodies as
curl sends them (-d as a form unless it is JSON, --data-urlencode, -F multipart, a scenario's
``form`` and ``multipart``), ``{{field}}`` in header values, and the run files' names (unit tier:
no process, no socket). Multipart bodies are read back with the standard library's MIME parser."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import replace

import pytest

from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.engine import request_spec
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec, Shape, SpecError, from_command_line, payloads
from loadtui.run import runfile
from loadtui.run.spec import RunSpec
from loadtui.targets import scenario

FORM = "application/x-www-form-urlencoded"


def sent(spec: RequestSpec) -> list[tuple[dict[str, str], bytes]]:
    """Each distinct request's headers (by lower-case name) and body."""
    found = []
    for payload in payloads(spec, "127.0.0.1:8000"):
        head, _, body = payload.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {n.lower(): v for n, _, v in (line.partition(": ") for line in lines)}
        assert int(headers.get("content-length", 0)) == len(body)
        found.append((headers, body))
    return found


def one(spec: RequestSpec) -> tuple[dict[str, str], bytes]:
    (found,) = sent(spec)
    return found


def fields(headers: dict[str, str], body: bytes) -> list[tuple[str, str | None, str, bytes]]:
    """A multipart body read back: (name, filename, content type, content) of each part."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body
    )
    assert message.is_multipart() and not message.defects
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


# ---- -d and --data-urlencode -------------------------------------------------------------------
def test_data_that_is_not_json_goes_as_a_form_and_json_still_as_json():
    headers, body = one(from_command_line("/login", Shape(data="username=u&password=p")))
    assert headers["content-type"] == FORM and body == b"username=u&password=p"
    headers, _ = one(from_command_line("/orders", Shape(data='{"qty": 1}')))
    assert headers["content-type"] == "application/json"
    given = Shape(data="a=1", headers=("Content-Type: text/plain",))
    assert one(from_command_line("/x", given))[0]["content-type"] == "text/plain"


def test_data_file_values_in_a_form_are_percent_encoded_as_form_values(tmp_path):
    rows = tmp_path / "users.jsonl"
    rows.write_text(json.dumps({"user": "ann", "password": "p&ss wörd=1+2", "n": 7}) + "\n")
    shape = Shape(data="username={{user}}&password={{password}}&n={{n}}", data_file=rows)
    headers, body = one(from_command_line("/login", shape))
    assert headers["content-type"] == FORM
    assert body == b"username=ann&password=p%26ss%20w%C3%B6rd%3D1%2B2&n=7"


@pytest.mark.parametrize(
    ("given", "body"),
    [
        ("hello world&x", b"hello%20world%26x"),  # content
        ("=a=b ü", b"a%3Db%20%C3%BC"),  # =content
        ("name=a b@c", b"name=a%20b%40c"),  # name=content: the first = splits
        ("@{file}", b"line%201%0A%00%FF"),  # @file, newlines and all
        ("doc@{file}", b"doc=line%201%0A%00%FF"),  # name@file
        ("42", b"42"),  # a form, though 42 parses as JSON
    ],
)
def test_data_urlencode_reads_its_argument_as_curl_does(tmp_path, given, body):
    file = tmp_path / "content.bin"
    file.write_bytes(b"line 1\n\x00\xff")
    spec = from_command_line("/f", Shape(data_urlencode=(given.format(file=file),)))
    headers, sent_body = one(spec)
    assert headers["content-type"] == FORM and sent_body == body
    assert spec.method == "POST"


def test_data_urlencode_pieces_follow_data_joined_with_ampersands_and_keep_templates(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("q\nsalt & pepper\n")
    shape = Shape(data="a=1", data_urlencode=("b=two words", "q=find {{q}}!"), data_file=rows)
    _, body = one(from_command_line("/s", shape))
    assert body == b"a=1&b=two%20words&q=find%20salt%20%26%20pepper%21"


# ---- -F multipart ------------------------------------------------------------------------------
def test_multipart_fields_and_files_with_a_boundary_the_mime_parser_reads(tmp_path):
    upload = tmp_path / "photo.png"
    upload.write_bytes(bytes(range(256)) * 4)
    (tmp_path / "note.txt").write_text("from a file")
    shape = Shape(
        form=(
            "note=hello there",
            f"file=@{upload}",
            f"raw=@{upload};type=x/y;filename=a.b",
            f"said=<{tmp_path / 'note.txt'}",  # curl's <: the file's content as a text field
        )
    )
    spec = from_command_line("/upload", shape)
    headers, body = one(spec)
    boundary = headers["content-type"].removeprefix("multipart/form-data; boundary=")
    assert boundary != headers["content-type"] and len(boundary) <= 70
    assert boundary.encode() not in upload.read_bytes()
    assert body.endswith(f"--{boundary}--\r\n".encode())
    assert fields(headers, body) == [
        ("note", None, "text/plain", b"hello there"),
        ("file", "photo.png", "image/png", upload.read_bytes()),
        ("raw", "a.b", "x/y", upload.read_bytes()),
        ("said", None, "text/plain", b"from a file"),
    ]
    assert spec.method == "POST"
    other = from_command_line("/upload", shape)
    assert (
        other.multipart and spec.multipart and other.multipart.boundary != spec.multipart.boundary
    )


def test_multipart_text_fields_take_data_file_values_as_they_are(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"who": "a&b c"}\n{"who": "ü"}\n')
    spec = from_command_line("/u", Shape(form=("note=from {{who}}",), data_file=rows))
    notes = [fields(headers, body)[0][3] for headers, body in sent(spec)]
    assert notes == [b"from a&b c", "from ü".encode()]


def test_a_given_multipart_content_type_gets_the_boundary(tmp_path):
    spec = from_command_line("/u", Shape(form=("a=1",), headers=("Content-Type: multipart/mixed",)))
    headers, body = one(spec)
    assert headers["content-type"].startswith("multipart/mixed; boundary=loadtui-")
    assert [name for name, *_ in fields(headers, body)] == ["a"]


# ---- {{field}} in header values -----------------------------------------------------------------
def test_header_values_take_data_file_fields(tmp_path):
    rows = tmp_path / "tokens.csv"
    rows.write_text("tok\nt1\nt2\n")
    spec = from_command_line(
        "/me", Shape(headers=("Authorization: Bearer {{tok}}",), data_file=rows)
    )
    assert [headers["authorization"] for headers, _ in sent(spec)] == ["Bearer t1", "Bearer t2"]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (None, "names tok but has no data file"),
        ('{"other": 1}\n', "row 1 has no tok"),
        ('{"tok": "a"}\n{"tok": "b\\r\\nX-Smuggled: 1"}\n', "row 2: the value of header X-T"),
        ('{"tok": "€"}\n', "row 1: the value of header X-T holds characters HTTP/1.1 cannot"),
    ],
)
def test_a_header_template_without_its_value_is_refused(tmp_path, rows, words):
    data_file = None
    if rows is not None:
        data_file = tmp_path / "rows.jsonl"
        data_file.write_text(rows)
    with pytest.raises(SpecError, match=words) as caught:
        from_command_line("/me", Shape(headers=("X-T: {{tok}}",), data_file=data_file))
    assert "\n" not in str(caught.value)


def test_a_path_takes_double_braced_fields_as_single_ones(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,q\n7,a b\n")
    spec = from_command_line("/items/{{id}}/{id}?q={{q}}", Shape(data_file=rows))
    (payload,) = payloads(spec, "h")
    assert payload.startswith(b"GET /items/7/7?q=a%20b HTTP/1.1\r\n")


def test_multipart_text_may_hold_line_breaks_but_its_part_headers_may_not():
    (part,) = from_command_line("/a", Shape(form=("note=line 1\r\nline 2",))).multipart.parts
    assert part.text == "line 1\r\nline 2"
    with pytest.raises(SpecError, match="control character"):
        from_command_line("/a", Shape(form=("f=x;type=a/b\r\nX-Smuggled: 1",)))


# ---- what is refused ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "words"),
    [
        (Shape(form=("novalue",)), "give it as name=value or name=@file"),
        (Shape(form=("=x",)), "give it as name=value or name=@file"),
        (Shape(form=("f=@/no/such/file",)), "cannot read /no/such/file"),
        (Shape(form=("f=@",)), "no file after @"),
        (Shape(form=("f=<",)), "no file after <"),
        (Shape(form=("f=</no/such/file",)), "cannot read /no/such/file"),
        (Shape(form=("a=1",), data="b=2"), "-F sends a multipart form: leave out -d"),
        (Shape(form=("a=1",), data_urlencode=("b=2",)), "leave out -d and --data-urlencode"),
        (Shape(data_urlencode=("@/no/such/file",)), "--data-urlencode @/no/such/file: cannot"),
    ],
)
def test_bad_bodies_are_one_line(shape, words):
    with pytest.raises(SpecError, match=words) as caught:
        from_command_line("/a", shape)
    assert "\n" not in str(caught.value)


def test_a_file_over_the_body_bound_and_rows_over_the_build_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(request_spec, "MAX_BODY_BYTES", 1000)
    (tmp_path / "big.bin").write_bytes(b"x" * 1001)
    with pytest.raises(SpecError, match="more than a request body may be"):
        from_command_line("/a", Shape(form=(f"f=@{tmp_path / 'big.bin'}",)))
    monkeypatch.setattr(request_spec, "MAX_BODY_BYTES", 2000)
    monkeypatch.setattr(request_spec, "MAX_BUILT_BYTES", 10_000)
    (tmp_path / "ok.bin").write_bytes(b"x" * 1000)
    rows = tmp_path / "rows.csv"
    rows.write_text("n\n" + "".join(f"{n}\n" for n in range(11)))
    shape = Shape(form=(f"f=@{tmp_path / 'ok.bin'}", "n={{n}}"), data_file=rows)
    with pytest.raises(SpecError, match="11 rows of a 1,005-byte body"):
        from_command_line("/a", shape)


def test_the_tui_takes_the_body_options_of_run():
    args = build_parser().parse_args(["--route", "/u", "-F", "a=1", "-F", "b=2"])
    shape = options.request_shape(args)
    assert shape is not None and shape.multipart is not None
    assert [part.name for part in shape.multipart.parts] == ["a", "b"]
    args = build_parser().parse_args(["run", "/s", "--data-urlencode", "q=a b", "-d", "x=1"])
    shape = options.request_shape(args)
    assert shape is not None and shape.body == b"x=1&q=a%20b"


# ---- scenario steps ----------------------------------------------------------------------------
def test_scenario_form_and_multipart_steps(tmp_path):
    (tmp_path / "upload.bin").write_bytes(b"\x00payload\xff")
    (tmp_path / "rows.jsonl").write_text('{"password": "a b&c"}\n')
    (tmp_path / "s.toml").write_text(
        '[[requests]]\nname = "login"\npath = "/login"\ndata_file = "rows.jsonl"\n'
        'form = { username = "ann", password = "{{password}}", remember = true, n = 2 }\n'
        '[[requests]]\nname = "upload"\npath = "/upload"\n'
        'multipart = { note = "x", file = "@upload.bin" }\n'
    )
    login, upload = scenario.load(tmp_path / "s.toml")
    assert (login.method, upload.method) == ("POST", "POST")
    headers, body = one(login)
    assert headers["content-type"] == FORM
    assert body == b"username=ann&password=a%20b%26c&remember=true&n=2"
    headers, body = one(upload)
    assert fields(headers, body) == [
        ("note", None, "text/plain", b"x"),
        ("file", "upload.bin", "application/octet-stream", b"\x00payload\xff"),
    ]


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            'form = { a = "1" }\njson = { b = 1 }',
            "give one body key of data, json, form, multipart",
        ),
        ('data = "a=1"\nmultipart = { f = "x" }', "not data and multipart"),
        ("form = { a = [1, 2] }", "form field 'a' must be text, a number or true/false"),
        ("form = { a = { b = 1 } }", "form field 'a' must be text"),
        ("form = { a = nan }", "form field 'a' must be text"),
        ('form = "a=1"', "form must be a table of name = value"),
        ("multipart = { f = 1979-05-27 }", "form field 'f' must be text"),
        ('multipart = { f = "@missing.bin" }', "multipart f: cannot read"),
    ],
)
def test_bad_scenario_bodies_are_one_line_naming_the_step(tmp_path, step, words):
    path = tmp_path / "bad.toml"
    path.write_text(f'[[requests]]\nname = "s"\npath = "/a"\n{step}\n')
    with pytest.raises(SpecError, match=words) as caught:
        scenario.load(path)
    message = str(caught.value)
    assert str(path) in message and "request 1 ('s')" in message and "\n" not in message


# ---- run files ---------------------------------------------------------------------------------
def test_run_file_names_differ_by_method_and_get_keeps_its_name():
    assert runfile.file_name("/users/", 10) == "route-users-10u.json"
    assert runfile.file_name("/users/", 10, "GET") == "route-users-10u.json"
    assert runfile.file_name("/users/", 10, "POST") == "route-POST-users-10u.json"
    assert runfile.file_name("/", 5, "DELETE") == "route-DELETE-root-5u.json"
    plan = LoadPlan(users=10, duration_s=1)
    post = from_command_line("/users/", Shape(data="a=1"))
    assert RunSpec("/users/", plan, shape=post).method == "POST"  # matrix and the TUI ask it
    assert RunSpec("/users/", plan).method == "GET"
    assert RunSpec("/users/", plan, scenario=(post,)).method == "POST"  # a scenario's step alone
    assert RunSpec("mix.toml", plan, scenario=(post, replace(post, name="b"))).method == "GET"


def test_a_bodys_bytes_are_built_once_per_distinct_request(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("u\na\nb\na\n")
    spec = from_command_line("/l", Shape(data_urlencode=("u={{u}}",), data_file=rows))
    assert [body for _, body in sent(spec)] == [b"u=a", b"u=b", b"u=a"]  # one per row
    assert len(payloads(from_command_line("/l", Shape(form=("a=1",))), "h")) == 1


def test_a_scenarios_files_are_relative_to_it(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.txt").write_text("hi")
    part = request_spec.part("f", "@f.txt", tmp_path / "sub", "multipart f")
    assert (part.content, part.filename, part.content_type) == (b"hi", "f.txt", "text/plain")
