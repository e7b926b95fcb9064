"""One sticky pull-request comment, updated on every run (as Mozilla's experiment
bot does): found by a hidden marker, edited in place, created only once.

GitHub REST API v3 (pull-request conversation comments are issue comments):
``GET /repos/{repo}/issues/{n}/comments?per_page=100&page=k`` to find the
marker, then ``PATCH /repos/{repo}/issues/comments/{id}`` or ``POST
/repos/{repo}/issues/{n}/comments`` with ``{"body": ...}``. Plain urllib
with the job's ``GITHUB_TOKEN``; ``GITHUB_API_URL`` (set by GitHub, also on
GitHub Enterprise Server) is the base. ``dry_run`` makes no request and
returns what would be sent, so tests and forks without write access can see
the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMMENT_LIMIT = 65_536
"""GitHub rejects an issue comment body longer than this (characters)."""

MAX_PAGES = 30
"""3,000 comments: enough for any pull request; stops a runaway loop."""


def marker(key: str) -> str:
    """The hidden HTML comment that identifies our comment; ``key`` separates
    several uses of the action in one repository (e.g. per spec folder)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_./" else "_" for ch in key)
    return f"<!-- upsell-ab-report:{safe} -->"


def comment_body(markdown: str, key: str, *, footer: str = "") -> str:
    """Marker + report (+ footer), within GitHub's comment limit."""
    body = f"{marker(key)}\n{markdown.rstrip()}\n"
    if footer:
        body += f"\n{footer}\n"
    if len(body) > COMMENT_LIMIT:
        note = "\n\n> Comment shortened to GitHub's 65,536-character limit: see the job summary.\n"
        body = body[: COMMENT_LIMIT - len(note)] + note
    return body


@dataclass(frozen=True)
class Request:
    """An HTTP request to the GitHub API (what a dry run reports)."""

    method: str
    url: str
    body: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "body": self.body}


Send = Callable[[Request], Any]
"""Sends a request and returns the parsed JSON response."""


def urllib_sender(token: str, *, timeout: float = 30.0) -> Send:
    """A :data:`Send` over HTTPS with the token; HTTP errors raise ``CommentError``."""
    import urllib.error
    import urllib.request

    def send(request: Request) -> Any:
        data = None if request.body is None else json.dumps(request.body).encode("utf-8")
        http = urllib.request.Request(request.url, data=data, method=request.method)
        http.add_header("Accept", "application/vnd.github+json")
        http.add_header("Authorization", f"Bearer {token}")
        http.add_header("X-GitHub-Api-Version", "2022-11-28")
        http.add_header("User-Agent", "upsell-ab-action")
        if data is not None:
            http.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(http, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise CommentError(
                f"{request.method} {request.url}: HTTP {error.code}: {detail}"
            ) from None
        except urllib.error.URLError as error:
            raise CommentError(f"{request.method} {request.url}: {error.reason}") from None
        return json.loads(payload) if payload else None

    return send


class CommentError(Exception):
    """The comment could not be posted (no permission on a fork, network, API error)."""


def find_comment(send: Send, api: str, repo: str, number: int, key: str) -> int | None:
    """Id of the first comment whose body carries our marker, else None."""
    tag = marker(key)
    for page in range(1, MAX_PAGES + 1):
        url = f"{api}/repos/{repo}/issues/{number}/comments?per_page=100&page={page}"
        comments = send(Request("GET", url))
        if not comments:
            return None
        for comment in comments:
            if tag in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < 100:
            return None
    return None


def upsert_comment(
    send: Send | None, api: str, repo: str, number: int, key: str, body: str
) -> Request:
    """Edit our comment if it exists, else create it. ``send=None`` is a dry run:
    nothing is requested, and the POST that would create it is returned."""
    if marker(key) not in body:
        raise ValueError("the body must carry the marker of its key (use comment_body)")
    create = Request("POST", f"{api}/repos/{repo}/issues/{number}/comments", {"body": body})
    if send is None:
        return create
    existing = find_comment(send, api, repo, number, key)
    if existing is None:
        send(create)
        return create
    update = Request("PATCH", f"{api}/repos/{repo}/issues/comments/{existing}", {"body": body})
    send(update)
    return update
