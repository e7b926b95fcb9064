"""``python -m upsell_ab.ci.action``: what the composite GitHub Action runs.

Steps, each visible in the log:

1. ``upsell-ab validate [--explain] SPECS --format github``: every spec problem
   becomes an ``::error file=,line=,col=::`` annotation on the diff.
2. The report, computed once and rendered three ways into ``OUTPUT_DIR``:
   ``report.md`` (``--max-bytes``), ``report.json``, ``report.html``.
   An invalid spec gets its own error block; the rest still report.
3. ``report.md`` is appended to ``$GITHUB_STEP_SUMMARY``.
4. On a pull request, one sticky comment (hidden marker, edited in place);
   ``UPSELL_AB_COMMENT_DRY_RUN=true`` writes ``comment.json`` (method, URL,
   body) instead of calling the API. A comment that cannot be posted (a fork's
   read-only token) is a warning, never a failed gate.
5. Outputs (``$GITHUB_OUTPUT``): ``exit-code``, ``report-markdown``,
   ``report-json``, ``report-html``, ``decisions`` (compact JSON
   ``{"experiment": "action"}``), ``comment-url``.
6. Every failing experiment is logged and annotated; the exit code is the
   CLI's contract (0 ok, 1 invalid spec/input, 2 data quality with
   ``--fail-on quality``, 3 guardrail with ``--fail-on guardrail``; 1 > 2 > 3).

Inputs come from environment variables (the action maps its inputs onto them):
``UPSELL_AB_SPECS``, ``UPSELL_AB_STORE``, ``UPSELL_AB_FAIL_ON`` (``quality``,
``guardrail``, ``both``, ``quality guardrail``, ``none``), ``UPSELL_AB_EXPLAIN``,
``UPSELL_AB_COMMENT``, ``UPSELL_AB_COMMENT_DRY_RUN``, ``UPSELL_AB_MAX_BYTES``,
``UPSELL_AB_OUTPUT_DIR``, ``UPSELL_AB_POSTGRES_DSN`` + ``UPSELL_AB_DSN_ENV``
(the DSN, from a secret, is put into the variable the specs' ``dsn_env``
names, in this process only) and GitHub's own ``GITHUB_*`` variables.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from upsell_ab.cli.annotations import command
from upsell_ab.cli.exit_codes import ExitCode
from upsell_ab.errors import UpsellAbError

TRUE = ("1", "true", "yes", "on")


class ActionInputError(Exception):
    """An input of the action is unusable (exit 1, named in the log)."""


@dataclass(frozen=True)
class Settings:
    specs: list[str]
    store: str | None
    fail_on: list[str]
    explain: bool
    comment: bool
    dry_run: bool
    max_bytes: int
    output_dir: Path
    dsn: str | None
    dsn_env: str
    against: str | None = None
    """Git revision the specs are compared with (``validate --against``): the input, else
    a pull request's base branch (``origin/$GITHUB_BASE_REF``); None: no comparison."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    return default if raw == "" else raw in TRUE


def parse_fail_on(raw: str) -> list[str]:
    """'quality', 'guardrail', 'both', 'quality guardrail' (comma or space), 'none' or ''."""
    words = [w for w in raw.replace(",", " ").split() if w]
    chosen: list[str] = []
    for word in words:
        if word == "none":
            continue
        if word == "both":
            chosen += ["quality", "guardrail"]
        elif word in ("quality", "guardrail"):
            chosen.append(word)
        else:
            raise ActionInputError(
                f"fail-on: unknown value {word!r} (use quality, guardrail, both or none)"
            )
    return sorted(set(chosen), key=("quality", "guardrail").index)


def settings(env: Mapping[str, str]) -> Settings:
    from upsell_ab.report.markdown import MAX_BYTES

    specs = env.get("UPSELL_AB_SPECS", "experiments/").split()
    raw_bytes = env.get("UPSELL_AB_MAX_BYTES", "").strip()
    try:
        max_bytes = int(raw_bytes) if raw_bytes else MAX_BYTES
    except ValueError:
        raise ActionInputError(f"max-bytes: {raw_bytes!r} is not a whole number") from None
    if max_bytes < 1024:
        raise ActionInputError("max-bytes: must be at least 1024")
    workspace = env.get("RUNNER_TEMP") or "."
    return Settings(
        specs=specs or ["experiments/"],
        store=env.get("UPSELL_AB_STORE", "").strip() or None,
        fail_on=parse_fail_on(env.get("UPSELL_AB_FAIL_ON", "quality guardrail")),
        explain=_flag(env, "UPSELL_AB_EXPLAIN", True),
        comment=_flag(env, "UPSELL_AB_COMMENT", True),
        dry_run=_flag(env, "UPSELL_AB_COMMENT_DRY_RUN", False),
        max_bytes=max_bytes,
        output_dir=Path(env.get("UPSELL_AB_OUTPUT_DIR") or Path(workspace) / "upsell-ab-report"),
        dsn=env.get("UPSELL_AB_POSTGRES_DSN") or None,
        dsn_env=env.get("UPSELL_AB_DSN_ENV", "UPSELL_AB_DSN").strip() or "UPSELL_AB_DSN",
        against=_against_input(env),
    )


def _against_input(env: Mapping[str, str]) -> str | None:
    raw = env.get("UPSELL_AB_AGAINST", "").strip()
    if raw.lower() == "none":
        return None
    if raw:
        return raw
    base = env.get("GITHUB_BASE_REF", "").strip()
    return f"origin/{base}" if base else None


def _revision_ready(revision: str) -> bool:
    """True when git knows ``revision`` in the working folder; a missing
    ``origin/<branch>`` (the checkout's default depth 1) is fetched at depth 1 first."""
    import subprocess

    from upsell_ab.spec.git_base import BaseUnavailable, has_revision

    here = Path.cwd()
    try:
        if has_revision(revision, here):
            return True
        remote, _, branch = revision.partition("/")
        if remote != "origin" or not branch:
            return False
        fetch = ["git", "fetch", "--no-tags", "--depth=1", "origin"]
        fetch.append(f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
        subprocess.run(fetch, capture_output=True, check=False, timeout=120)
        return has_revision(revision, here)
    except (BaseUnavailable, OSError, subprocess.SubprocessError):
        return False


def _validate(options: Settings) -> int:
    """Step 1: annotations on stdout (GitHub reads them from the log)."""
    from upsell_ab.cli.main import main

    print("::group::upsell-ab validate" + (" --explain" if options.explain else ""))
    argv = ["validate", *options.specs, "--format", "github"]
    if options.explain:
        argv.append("--explain")
    if options.against is not None:
        if _revision_ready(options.against):
            argv += ["--against", options.against]
        else:
            print(
                command(
                    "warning",
                    f"cannot compare the specs with {options.against}: git does not have it "
                    "(check out with fetch-depth: 0, or set the input against: none)",
                    title="upsell-ab validate",
                )
            )
    code = main(argv)
    print("::endgroup::")
    return code


@dataclass(frozen=True)
class Outcome:
    code: int
    markdown: str
    decisions: dict[str, str]
    notes: list[str]
    failing_files: dict[str, str]
    """experiment id -> spec file, for annotations."""


def _report(options: Settings) -> Outcome:
    """Step 2: compute once, render Markdown/JSON/HTML, decide the exit code."""
    from upsell_ab.api import Experiment
    from upsell_ab.cli.run_output import exit_code, failure_notes, write_text
    from upsell_ab.report.failures import SpecFailure
    from upsell_ab.report.render import render
    from upsell_ab.workflow import ExperimentRun, collect_running, data_failure

    found = collect_running(options.specs)
    if found.files == 0:
        raise ActionInputError(f"specs: no experiment spec (*.yaml) under {options.specs}")
    runs: list[ExperimentRun] = []
    failures: list[SpecFailure] = list(found.failures)
    for resolved in found.running:
        try:
            result = Experiment(resolved).analyze(options.store, daily=True)
        except UpsellAbError as error:
            failures.append(data_failure(resolved, error))
        else:
            runs.append(result.run)
    reports = [run.report() for run in runs]
    out = options.output_dir
    markdown = render(reports, "markdown", failures=failures, max_bytes=options.max_bytes)
    write_text(markdown, str(out / "report.md"))
    write_text(render(reports, "json", failures=failures), str(out / "report.json"))
    write_text(render(reports, "html", failures=failures), str(out / "report.html"))
    code = exit_code(runs, options.fail_on, failures)
    files = {
        run.resolved.experiment.id: str(run.resolved.source_file or "")
        for run in runs
        if run.resolved.source_file
    }
    files.update({f.title: f.file for f in failures})
    return Outcome(
        code=int(code),
        markdown=markdown,
        decisions={r.experiment: r.decision.action for r in reports},
        notes=failure_notes(runs, options.fail_on, failures),
        failing_files=files,
    )


def _annotate(notes: Sequence[str], files: Mapping[str, str]) -> None:
    """Step 6: each failure as a log line and an annotation on the spec file."""
    for note in notes:
        level, _, rest = note.partition(": ")
        experiment = rest.split(": ", 1)[0]
        kind = {"error": "error", "warning": "warning"}.get(level, "notice")
        print(
            command(kind, note, file=files.get(experiment), title=f"upsell-ab {experiment}"),
            flush=True,
        )
        print(f"upsell-ab report: {note}", file=sys.stderr, flush=True)


def pull_request_number(env: Mapping[str, str]) -> int | None:
    """The pull request of this run (pull_request / pull_request_target events), else None."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    return int(number) if isinstance(number, int) else None


def _comment(options: Settings, env: Mapping[str, str], markdown: str) -> str:
    """Step 4; returns the comment's API URL (or the planned one on a dry run), '' if none."""
    from upsell_ab.ci.comment import CommentError, comment_body, upsert_comment, urllib_sender

    number = pull_request_number(env)
    if not options.comment or number is None:
        return ""
    repo = env.get("GITHUB_REPOSITORY", "")
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    run_url = ""
    if env.get("GITHUB_SERVER_URL") and repo and env.get("GITHUB_RUN_ID"):
        run_url = f"{env['GITHUB_SERVER_URL']}/{repo}/actions/runs/{env['GITHUB_RUN_ID']}"
    footer = f"<sub>upsell-ab · [job summary and HTML report]({run_url})</sub>" if run_url else ""
    body = comment_body(markdown, " ".join(options.specs), footer=footer)
    token = env.get("GITHUB_TOKEN", "")
    if options.dry_run or not token or not repo:
        request = upsert_comment(None, api, repo, number, " ".join(options.specs), body)
        target = options.output_dir / "comment.json"
        target.write_text(json.dumps(request.to_dict(), indent=2) + "\n", encoding="utf-8")
        why = "dry run" if options.dry_run else "no GITHUB_TOKEN or GITHUB_REPOSITORY"
        print(f"upsell-ab action: comment not posted ({why}); request written to {target}")
        return request.url
    try:
        request = upsert_comment(
            urllib_sender(token), api, repo, number, " ".join(options.specs), body
        )
    except CommentError as error:
        print(command("warning", f"could not post the pull-request comment: {error}"))
        return ""
    print(f"upsell-ab action: {request.method} {request.url}")
    return request.url


def _outputs(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for key, value in values.items():
            if "\n" in value:
                raise ValueError(f"output {key} must be one line")
            handle.write(f"{key}={value}\n")


def run(env: Mapping[str, str]) -> int:
    """All steps; returns the exit code (see the module docstring)."""
    try:
        options = settings(env)
    except ActionInputError as error:
        print(command("error", str(error), title="upsell-ab action"))
        _outputs(env, {"exit-code": str(int(ExitCode.INVALID_INPUT)), "comment-url": ""})
        return int(ExitCode.INVALID_INPUT)
    if options.dsn:
        print(f"::add-mask::{options.dsn}")
        os.environ[options.dsn_env] = options.dsn
    options.output_dir.mkdir(parents=True, exist_ok=True)
    validate_code = _validate(options)
    try:
        outcome = _report(options)
    except (ActionInputError, UpsellAbError) as error:
        # e.g. a spec folder that does not exist: one annotation, exit 1, outputs still set
        print(command("error", str(error), title="upsell-ab action"))
        _outputs(env, {"exit-code": str(int(ExitCode.INVALID_INPUT)), "comment-url": ""})
        return int(ExitCode.INVALID_INPUT)
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(outcome.markdown)
    comment_url = _comment(options, env, outcome.markdown)
    _annotate(outcome.notes, outcome.failing_files)
    code = outcome.code
    if validate_code and not code:
        code = int(ExitCode.INVALID_INPUT)  # e.g. --explain found SQL the store cannot run
    _outputs(
        env,
        {
            "exit-code": str(code),
            "report-markdown": str(options.output_dir / "report.md"),
            "report-json": str(options.output_dir / "report.json"),
            "report-html": str(options.output_dir / "report.html"),
            "decisions": json.dumps(outcome.decisions, separators=(",", ":"), sort_keys=True),
            "comment-url": comment_url,
        },
    )
    print(f"upsell-ab action: exit code {code}" + (f" ({ExitCode(code).name.lower()})"))
    return code


def main() -> int:
    with contextlib.redirect_stdout(io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")):
        return run(os.environ)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
