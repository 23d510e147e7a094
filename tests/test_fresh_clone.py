"""A fresh clone, without ``../shared`` beside it, passes the README's test command.

The conformance tests read their requirements from ``$ORCHESTRA_CONFORMANCE_DIR`` or
``../shared/conformance``. Without either they are skipped with a reason naming both;
``ORCHESTRA_REQUIRE_CONFORMANCE=1`` (what ``.ci/run`` sets) makes that a failure. Each
test copies the repository's files into an empty directory and runs pytest on the
conformance tests there, in a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_DIR = "ORCHESTRA_CONFORMANCE_DIR"
ENV_REQUIRE = "ORCHESTRA_REQUIRE_CONFORMANCE"


def _repository_files() -> list[str]:
    """The files a clone has: tracked ones, and new ones not ignored (not committed yet)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files a clone would have")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listing.split("\0") if name})


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository in an empty directory: no ``../shared`` beside it."""
    target = tmp_path_factory.mktemp("fresh") / "orchestra"
    for name in _repository_files():
        source = REPO / name
        if source.is_file():  # a tracked file someone deleted is not in a clone either
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    assert not (target.parent / "shared").exists()
    return target


def _pytest(
    clone: Path, *args: str, paths: tuple[str, ...] = ("tests/conformance",), **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in (ENV_DIR, ENV_REQUIRE, "PYTHONPATH")
    }
    environment.update(env)
    command = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-rs", *args]
    return subprocess.run(
        command,
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _skipped(output: str) -> int:
    found = re.search(r"(\d+) skipped", output)
    return int(found.group(1)) if found else 0


def test_without_the_requirements_the_conformance_tests_skip_naming_both_places(clone):
    proc = _pytest(clone)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # per mode (in process, over HTTP, the reference SDK): the requirements and the handler
    # check; and the two matching tests that read requirements
    assert _skipped(output) == 7, output
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips, output
    for line in skips:
        assert ENV_DIR in line, line
        assert "../shared/conformance" in line, line
    assert " passed" in output  # the matching tests that need no requirement still run


def test_the_whole_suite_collects_in_a_clone(clone):
    # Collection only (running everything would take minutes): catches modules that cannot
    # be imported without ../shared, and clashing conftest modules under --doctest-modules.
    proc = _pytest(clone, "--collect-only", "-q", paths=())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    summary = proc.stdout.strip().splitlines()[-1]
    assert "collected" in summary and "error" not in summary, output


def test_when_required_a_missing_requirements_directory_fails(clone):
    proc = _pytest(clone, **{ENV_REQUIRE: "1"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "conformance requirements not found" in output
    assert f"{ENV_REQUIRE} is set" in output


def test_the_environment_variable_points_at_the_requirements(clone):
    shared = REPO.parent / "shared" / "conformance"
    if not shared.is_dir():
        pytest.skip(f"{shared} is not here to point at")
    proc = _pytest(clone, "-k", "every", **{ENV_DIR: str(shared), ENV_REQUIRE: "1"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # the tests named "every...": the handler checks of the in-process and reference-SDK
    # modes, and the matcher test that loads every requirement
    assert "3 passed" in output, output
