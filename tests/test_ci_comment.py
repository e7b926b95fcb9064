"""The sticky pull-request comment over real HTTP: a local server keeps issue
comments the way GitHub's REST API documents them (list paginated by
``per_page``/``page``, ``POST .../issues/{n}/comments`` creates,
``PATCH .../issues/comments/{id}`` edits, bearer token required). No request
leaves the machine. Checked: the first run creates one comment, later runs
edit that same comment (found by its marker, also on page 2), other people's
comments are never touched, and a refused write (a fork's read-only token)
is a warning, not a failed gate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.ci_support import Workspace, demo_workspace
from tests.test_ci_action import PR, run_action
from upsell_ab.ci.comment import (
    COMMENT_LIMIT,
    CommentError,
    comment_body,
    marker,
    upsert_comment,
    urllib_sender,
)


class FakeIssues:
    """Issue comments of acme/shop#42 and the requests seen."""

    def __init__(self, foreign: int) -> None:
        self.comments = [{"id": i + 1, "body": f"review comment {i}"} for i in range(foreign)]
        self.requests: list[tuple[str, str]] = []
        self.refuse_writes = False


def _server(state: FakeIssues) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _reply(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != "Bearer secret-token":
                self._reply(401, {"message": "Bad credentials"})
                return False
            return True

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            if not self._authorized():
                return
            url = urlparse(self.path)
            assert url.path == "/repos/acme/shop/issues/42/comments"
            query = parse_qs(url.query)
            size, page = int(query["per_page"][0]), int(query["page"][0])
            self._reply(200, state.comments[(page - 1) * size : page * size])

        def _body(self) -> dict[str, Any]:
            length = int(self.headers["Content-Length"])
            return json.loads(self.rfile.read(length))

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if not self._authorized():
                return
            if state.refuse_writes:
                self._reply(403, {"message": "Resource not accessible by integration"})
                return
            assert self.path == "/repos/acme/shop/issues/42/comments"
            comment = {"id": 1000 + len(state.comments), "body": self._body()["body"]}
            state.comments.append(comment)
            self._reply(201, comment)

        def do_PATCH(self) -> None:
            state.requests.append(("PATCH", self.path))
            if not self._authorized():
                return
            comment_id = int(self.path.rsplit("/", 1)[1])
            assert self.path == f"/repos/acme/shop/issues/comments/{comment_id}"
            comment = next(c for c in state.comments if c["id"] == comment_id)
            comment["body"] = self._body()["body"]
            self._reply(200, comment)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def github() -> Iterator[tuple[str, FakeIssues]]:
    state = FakeIssues(foreign=150)  # ours lands on page 2 of 100
    server = _server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_first_run_creates_later_runs_edit_the_same_comment(
    github: tuple[str, FakeIssues],
) -> None:
    api, state = github
    send = urllib_sender("secret-token")
    first = upsert_comment(
        send, api, "acme/shop", 42, "experiments/", comment_body("run 1", "experiments/")
    )
    assert first.method == "POST"
    second = upsert_comment(
        send, api, "acme/shop", 42, "experiments/", comment_body("run 2", "experiments/")
    )
    third = upsert_comment(
        send, api, "acme/shop", 42, "experiments/", comment_body("run 3", "experiments/")
    )
    assert second.method == third.method == "PATCH"
    ours = [c for c in state.comments if marker("experiments/") in c["body"]]
    assert len(ours) == 1 and "run 3" in ours[0]["body"]
    assert len(state.comments) == 151
    assert all(c["body"] == f"review comment {i}" for i, c in enumerate(state.comments[:150]))
    # the marker was found on page 2
    assert ("GET", "/repos/acme/shop/issues/42/comments?per_page=100&page=2") in state.requests


def test_another_key_gets_its_own_comment(github: tuple[str, FakeIssues]) -> None:
    api, state = github
    send = urllib_sender("secret-token")
    upsert_comment(send, api, "acme/shop", 42, "team-a/", comment_body("a", "team-a/"))
    upsert_comment(send, api, "acme/shop", 42, "team-b/", comment_body("b", "team-b/"))
    assert len(state.comments) == 152


def test_refused_write_raises_a_clear_error(github: tuple[str, FakeIssues]) -> None:
    api, state = github
    state.refuse_writes = True
    with pytest.raises(CommentError, match=r"HTTP 403: .*not accessible"):
        upsert_comment(
            urllib_sender("secret-token"), api, "acme/shop", 42, "k", comment_body("b", "k")
        )
    with pytest.raises(CommentError, match="HTTP 401"):
        upsert_comment(urllib_sender("wrong"), api, "acme/shop", 42, "k", comment_body("b", "k"))


def test_long_report_is_cut_to_githubs_comment_limit() -> None:
    body = comment_body("x" * 100_000, "k")
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(marker("k")) and "see the job summary" in body


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory)


def test_action_posts_then_updates_and_a_refusal_does_not_fail_the_gate(
    demo: Workspace, tmp_path: Path, github: tuple[str, FakeIssues]
) -> None:
    api, state = github
    inputs = {"specs": str(demo.specs), "store": str(demo.store), "explain": "false"}
    env = {"GITHUB_API_URL": api}
    first = run_action(tmp_path, {**inputs, "github-token": "secret-token"}, event=PR,
                       extra_env=env)  # fmt: skip
    assert first["code"] == 0, first["stdout"]
    second = run_action(tmp_path, {**inputs, "github-token": "secret-token"}, event=PR,
                        extra_env=env)  # fmt: skip
    assert [m for m, _ in state.requests if m != "GET"] == ["POST", "PATCH"]
    ours = [c for c in state.comments if "upsell-ab-report" in c["body"]]
    assert len(ours) == 1 and "| `cake_wording` |" in ours[0]["body"]
    assert second["outputs"]["comment-url"].endswith(f"/issues/comments/{ours[0]['id']}")
    state.refuse_writes = True
    state.comments = [c for c in state.comments if c not in ours]
    third = run_action(tmp_path, {**inputs, "github-token": "secret-token"}, event=PR,
                       extra_env=env)  # fmt: skip
    assert third["code"] == 0
    assert "::warning::could not post the pull-request comment" in third["stdout"]
    assert "secret-token" not in third["stdout"] + third["stderr"]
