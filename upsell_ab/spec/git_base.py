"""A spec file as it was at a git revision (``validate --against REF``).

Reads ``git show REF:path`` in the file's own repository, so a pull request can be
compared with its base branch. Only git's command line is used (no library): CI
runners and developer machines have it; nothing is fetched here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from upsell_ab.errors import Location, Problem


class BaseUnavailable(Exception):
    """The revision cannot be read (no git, not a repository, unknown revision)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as error:
        raise BaseUnavailable(
            Problem(
                Location(file=str(cwd)),
                f"cannot run git ({error.strerror})",
                "install git, or leave out --against",
                "against",
            )
        ) from None


def has_revision(revision: str, cwd: Path) -> bool:
    """git in ``cwd`` knows ``revision`` as a commit. Raises :class:`BaseUnavailable`
    when git cannot run."""
    if revision.startswith("-") or not revision.strip():
        return False  # an option, not a revision: never handed to git (``--output=...``)
    known = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd)
    return known.returncode == 0


def base_text(path: Path, revision: str) -> str | None:
    """The text of ``path`` at ``revision``, or None when the file did not exist there
    (a new spec). Raises :class:`BaseUnavailable` when the revision cannot be read."""
    folder = path.resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise BaseUnavailable(
            Problem(
                Location(file=str(path)),
                "--against needs the specs in a git repository",
                "run it in a clone, or leave out --against",
                "against",
            )
        )
    root = Path(top.stdout.decode().strip())
    if not has_revision(revision, root):
        raise BaseUnavailable(
            Problem(
                Location(file=str(path)),
                f"unknown git revision {revision!r}",
                "fetch it first (e.g. git fetch --depth=1 origin main, then --against origin/main)",
                "against",
            )
        )
    relative = path.resolve().relative_to(root.resolve()).as_posix()
    shown = _git(["show", f"{revision}:{relative}"], root)
    if shown.returncode != 0:
        return None  # not in the base: a new spec
    return shown.stdout.decode("utf-8-sig", errors="replace")
