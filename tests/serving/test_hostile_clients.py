"""Hostile and broken clients: each is refused with a 4xx JSON `error` (or logged), and the server keeps answering.

The cases a `TestClient` can express use one; chunked bodies, clients that
hang up mid-upload and raw `Host` headers go to a real uvicorn server on
127.0.0.1 (port 0) in a thread, over raw sockets.
"""

import contextlib
import http.client
import json
import logging
import select
import socket
import threading
import time

import pytest

from tfsearch.serving.app import MAX_JSON_DEPTH, MAX_REQUEST_BYTES, create_app

PREDICT = "/v1/models/tiny:predict"


@contextlib.contextmanager
def running(app):
    """Serves `app` with uvicorn on 127.0.0.1 in a thread; yields the port. No lifespan: the app's service is open."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn-test")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start; see the log above"
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def live(served):
    """The port of a real uvicorn server running the `served` app."""
    with running(served[1]) as port:
        yield port


def assert_still_searching(client):
    """The `TestClient`'s app still answers a search."""
    response = client.get("/search", params={"q": "the cat", "k": 2})
    assert response.status_code == 200, f"the server stopped answering /search: {response.text}"
    assert len(response.json()["results"]) == 2


def assert_still_searching_over_http(port):
    """The real server still answers a search, on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/search?q=the+cat&k=2")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, f"the server stopped answering /search: {body[:300]!r}"
    assert len(json.loads(body)["results"]) == 2


def assert_refused(response, words, status=400):
    """`response` (a `TestClient` answer) is `status` with a JSON `error` containing `words`."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"] == "application/json", response.headers
    assert words in response.json()["error"], response.json()


def raw_exchange(port, head, body_parts=(), wait=10.0):
    """Sends `head` then `body_parts` on a new connection; the status line and JSON body answered, if any.

    Returns `(status, body, sent)`: `sent` counts the body bytes sent before
    the answer came (`status` None: no answer within `wait` seconds).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head)
        sent = 0
        for part in body_parts:
            if select.select([sock], [], [], 0)[0]:
                break  # answered while the client is still sending
            sock.sendall(part)
            sent += len(part)
        if not select.select([sock], [], [], wait)[0]:
            return None, None, sent
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    return status, json.loads(body[:_length(answer)]) if body else None, sent


def _length(answer):
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            return int(value)
    return 0


def chunk(data):
    """`data` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def chunked_head(path=PREDICT, host=b"127.0.0.1"):
    return (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % (path.encode(), host))


NESTED = {
    "lists": "[" * 100_000 + "]" * 100_000,
    "objects": '{"a":' * 100_000 + "0" + "}" * 100_000,
    # Below Python's recursion limit, so json.loads alone would take it; the
    # messages quoting it (`repr`) would not.
    "instances": '{"instances": ' + "[" * 900 + '"x"' + "]" * 900 + "}",
}


@pytest.mark.parametrize("kind", sorted(NESTED))
def test_deeply_nested_json_is_refused(served, kind):
    client = served[0]
    assert_refused(client.post(PREDICT, content=NESTED[kind].encode()), "nested too deeply")
    # Brackets inside strings (escaped quotes too) do not count: a query of brackets is a query.
    brackets = client.post(PREDICT, content=json.dumps({"instances": ['"[{' * 300], "signature_name": "search"}))
    assert brackets.status_code == 200, brackets.text
    for nest, status in ((MAX_JSON_DEPTH - 1, 200), (MAX_JSON_DEPTH, 400)):  # with the body's own object
        body = '{"inputs": {"queries": ["the cat"]}, "x": ' + "[" * nest + "]" * nest + "}"
        assert client.post(PREDICT, content=body.encode()).status_code == status, (nest, status)
    assert_still_searching(client)


@pytest.mark.parametrize("kind", sorted(NESTED))
def test_deeply_nested_chunked_json_is_refused(served, live, kind):
    data = NESTED[kind].encode()
    parts = [chunk(data[i:i + 65536]) for i in range(0, len(data), 65536)] + [b"0\r\n\r\n"]
    status, body, _ = raw_exchange(live, chunked_head(), parts)
    assert status == 400 and "nested too deeply" in body["error"], (status, body)
    assert_still_searching_over_http(live)


@pytest.mark.parametrize("body", [
    {"instances": ["\ud800"]},
    {"instances": [{"queries": "fine", "k": 2}, {"queries": "cat \udfff", "k": 2}]},
    {"inputs": {"queries": ["the cat", "\ud800"]}},
    {"inputs": "\ud800"},
    {"signature_name": "encode_document", "instances": [{"documents": "\ud800 doc"}]},
    {"signature_name": "encode_query", "inputs": {"queries": ["\udbff"]}},
], ids=["row", "row-object", "columnar", "columnar-bare", "encode_document", "encode_query"])
def test_a_lone_surrogate_in_a_predict_is_refused(served, body):
    client = served[0]
    raw = json.dumps(body).encode("ascii")  # "\ud800" goes as the JSON escape \ud800
    assert b"\\ud" in raw
    assert_refused(client.post(PREDICT, content=raw, headers={"content-type": "application/json"}),
                   "lone surrogate")
    # A surrogate pair is a character (U+1F600), not a problem.
    pair = client.post(PREDICT, content=json.dumps({"instances": ["cat \U0001F600"]}).encode("ascii"))
    assert pair.status_code == 200, pair.text
    assert_still_searching(client)


@pytest.mark.parametrize("query_string", ["q=%ED%A0%80", "q=cat%ED%A0%80&k=2", "q=%ED%BF%BF", "q=%FF%FE",
                                          "q=cat&page=%ED%A0%80"])
def test_a_query_string_that_is_not_utf8_is_refused(served, live, query_string):
    client = served[0]
    assert_refused(client.get(f"/search?{query_string}"), "not valid UTF-8")
    # On the wire too (httpx might re-encode the URL; http.client sends it as given).
    connection = http.client.HTTPConnection("127.0.0.1", live, timeout=30)
    try:
        connection.request("GET", f"/search?{query_string}")
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400 and "not valid UTF-8" in body["error"], body
    # U+FFFD itself, percent-encoded as UTF-8, is a fine query.
    assert client.get("/search?q=cat%EF%BF%BD&k=2").status_code == 200
    assert_still_searching(client)


@pytest.mark.parametrize("body, words", [
    ({"instances": [{"queries": "the cat", "k": [2]}]}, "`k` must be"),
    ({"instances": [{"queries": "the cat", "k": {"value": 2}}]}, "`k` must be"),
    ({"instances": [{"queries": "the cat", "diversity": [0.5]}]}, "`diversity` must be"),
    ({"instances": [{"queries": "the cat", "diversity": {"value": 0.5}}]}, "`diversity` must be"),
    ({"instances": [{"queries": "a", "k": 2}, {"queries": "b", "k": [2, 3]}]}, "`k` must be"),
    ({"inputs": {"queries": ["the cat"], "k": [2]}}, "`k` must be"),
    ({"inputs": {"queries": ["the cat"], "diversity": {"x": 1}}}, "`diversity` must be"),
    ({"inputs": {"queries": [["nested"]]}}, "non-empty string"),
    ({"instances": [{"queries": ["a list"]}]}, "non-empty string"),
])
def test_k_or_diversity_of_the_wrong_shape_is_refused(served, body, words):
    client = served[0]
    assert_refused(client.post(PREDICT, json=body), words)
    assert_still_searching(client)


def test_an_oversized_chunked_body_is_refused_while_it_is_still_being_sent(served, live):
    # 4 MiB of a body that would go on (a 256 MiB upload, or an endless one):
    # the answer comes before the client finishes, so the server cannot have
    # read the body in full; it does not wait for the end either.
    part = chunk(b" " * 65536)
    parts = [chunk(b"{")] + [part] * (4 * MAX_REQUEST_BYTES // 65536)
    status, body, sent = raw_exchange(live, chunked_head(), parts, wait=20)
    assert status == 400, f"no 400 within 20 s of sending {sent} bytes of an unfinished chunked body: {body}"
    assert "over" in body["error"]
    assert sent <= len(part) * len(parts), "the client was never interrupted"
    # A chunked body within the limit is answered.
    ok = json.dumps({"inputs": {"queries": ["the cat"], "k": 2}}).encode()
    status, body, _ = raw_exchange(live, chunked_head(), [chunk(ok[:10]), chunk(ok[10:]), b"0\r\n\r\n"])
    assert status == 200 and len(body["outputs"]["ids"][0]) == 2, body
    # An over-size Content-Length is refused before any of the body is sent.
    head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (PREDICT.encode(), 256 << 20))
    status, body, sent = raw_exchange(live, head)
    assert status == 400 and "over" in body["error"] and sent == 0, (status, body)
    assert_still_searching_over_http(live)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_disconnecting_mid_upload_is_logged_in_one_line(served, live, caplog, framing):
    if framing == "chunked":
        head, part = chunked_head(), chunk(b'{"inputs": {"queries": ["the')
    else:
        head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                b"\r\n" % PREDICT.encode())
        part = b'{"inputs": {"queries": ["the'
    with caplog.at_level(logging.INFO):
        with socket.create_connection(("127.0.0.1", live), timeout=10) as sock:
            sock.sendall(head + part)
            time.sleep(0.3)  # the app is reading the body when the client goes
        deadline = time.monotonic() + 10
        while not any("disconnected" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_still_searching_over_http(live)
    ours = [r for r in caplog.records if r.name == "tfsearch.serving" and "disconnected" in r.getMessage()]
    assert len(ours) == 1, f"expected one log line for the disconnect, got {[r.getMessage() for r in caplog.records]}"
    assert ours[0].exc_info is None and "\n" not in ours[0].getMessage()
    assert "/v1/models/tiny:predict" in ours[0].getMessage()
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not problems, f"a disconnect should log no error or traceback: {[r.getMessage() for r in problems]}"


ALLOWED = ["127.0.0.1", "localhost", "::1", "[fe80::1]", "Search.Example:8501"]


@pytest.mark.parametrize("host, allowed", [
    ("localhost", True), ("localhost:8501", True), ("LOCALHOST:8501", True), ("localhost.", True),
    ("127.0.0.1:8501", True), ("[::1]:8501", True), ("[::1]", True), ("[FE80::1]:8501", True),
    ("search.example", True),
    ("evil.example", False), ("evil.example:8501", False), ("127.0.0.1.evil.example", False),
    ("localhost.evil.example:8501", False), ("[::2]:8501", False), ("", False),
])
def test_a_host_not_allowed_is_refused(served, host, allowed):
    _, app, _, _, base = served
    # The served app's service, already open; no `with`: this client runs no lifespan (which would close it).
    from fastapi.testclient import TestClient

    guarded = TestClient(create_app(base, service=app.state.service, allowed_hosts=ALLOWED),
                         base_url="http://localhost:8501")
    response = guarded.get("/search", params={"q": "the cat", "k": 2}, headers={"host": host})
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert_refused(response, "not allowed")
        assert "--allowed-hosts" in response.json()["error"]
    # Without allowed_hosts nothing is checked (library use).
    assert served[0].get("/search", params={"q": "x", "k": 1}, headers={"host": "evil.example"}).status_code == 200
    assert_still_searching(guarded)


def test_a_host_not_allowed_is_refused_on_the_wire(served):
    _, app, _, _, base = served
    guarded = create_app(base, service=app.state.service, allowed_hosts=["127.0.0.1", "localhost", "::1"])
    with running(guarded) as port:
        get = b"GET /search?q=the+cat&k=2 HTTP/1.1\r\nHost: %s\r\n\r\n"
        status, body, _ = raw_exchange(port, get % b"rebound.evil.example")
        assert status == 400 and "rebound.evil.example" in body["error"] and "--allowed-hosts" in body["error"]
        status, body, _ = raw_exchange(port, b"GET /v1/models/tiny HTTP/1.0\r\n\r\n")  # HTTP/1.0: no Host at all
        assert status == 400 and "no Host header" in body["error"], body
        status, body, _ = raw_exchange(port, get % b"localhost:%d" % port)
        assert status == 200 and len(body["results"]) == 2, body
        assert_still_searching_over_http(port)


@pytest.mark.parametrize("method, path, status", [
    ("get", "/no/such/path", 404), ("post", "/v1/models/tiny/labels/stable:predict", 404),
    ("get", "/v1/models/tiny/versions/1/nope", 404),
    ("get", PREDICT, 405), ("get", "/v1/models/tiny/versions/1:predict", 405),
    ("post", "/search", 405), ("put", "/v1/models/tiny", 405), ("delete", "/search", 405),
    ("post", "/v1/models/tiny", 405), ("post", "/v1/models/tiny/versions/1", 405),
])
def test_unknown_paths_and_methods_answer_json(served, method, path, status):
    client = served[0]
    response = getattr(client, method)(path)
    assert_refused(response, "no such path" if status == 404 else "not allowed", status)
    if status == 405:
        assert response.headers.get("allow"), "a 405 says which methods are allowed"
    assert_still_searching(client)
