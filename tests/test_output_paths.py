"""``--output`` never damages what a path already is (issue 10), tested as the user CI runs as.

As root, the old temp-file-and-rename turned ``/dev/null`` into a regular file
for the whole machine, replaced a symlink by a file and a FIFO by a file its
reader never saw. Devices and FIFOs are now written through, symlinks are
followed, regular files are still replaced atomically, and unwritable paths
are one clean line with exit 1.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli_support import run_cli
from upsell_ab.errors import InputError
from upsell_ab.output_file import output_path, write_output

REPO = Path(__file__).resolve().parents[1]


def test_dev_null_stays_a_character_device() -> None:
    before = os.stat("/dev/null")
    done = run_cli("schema", "-o", "/dev/null")
    after = os.stat("/dev/null")
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def test_analyze_json_to_dev_null_as_root(tmp_path: Path) -> None:
    summary = tmp_path / "s.csv"
    summary.write_text(
        "variant,metric,n,sum,sum_squares\n"
        "generic,upsell_take_rate,1000,150,150\npairing,upsell_take_rate,1000,190,190\n",
        encoding="utf-8",
    )
    done = run_cli(
        "analyze",
        str(REPO / "experiments" / "cake_wording.yaml"),
        "--summary",
        str(summary),
        "--format",
        "json",
        "--output",
        "/dev/null",
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == "new"


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "made.md")
    write_output(link, "hello")
    assert link.is_symlink() and (tmp_path / "made.md").read_text(encoding="utf-8") == "hello"


def test_fifo_reader_gets_the_output_and_the_fifo_stays(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    reader = threading.Thread(target=read)
    reader.start()
    write_output(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_regular_file_is_replaced_atomically_keeping_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    write_output(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary left


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), output_path(target) as temporary:
        temporary.write_text("half", encoding="utf-8")
        raise RuntimeError("renderer failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd/report.md", "/proc/version", "{dir}"],
    ids=["parent-is-a-file", "proc-file", "a-folder"],
)
def test_unwritable_paths_are_one_clean_line(tmp_path: Path, target: str) -> None:
    path = target.format(dir=tmp_path)
    with pytest.raises(InputError) as caught:
        write_output(path, "x")
    assert caught.value.problems[0].location.file == path
    done = run_cli("schema", "-o", path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and path in done.stderr


def test_read_only_file_system_is_a_clean_error(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr!r}")
    try:
        done = run_cli("schema", "-o", str(mount / "schema.json"))
        assert done.returncode == 1
        assert "Read-only file system" in done.stderr and "Traceback" not in done.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_demo_refuses_an_output_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "upsell-ab-demo").write_text("mine", encoding="utf-8")
    done = run_cli("demo", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "upsell-ab-demo" in done.stderr and "existing file" in done.stderr
    assert (tmp_path / "upsell-ab-demo").read_text(encoding="utf-8") == "mine"
