"""Nothing a user runs writes into tracked files: the main job and `scaling plot all`, run in a fresh
clone of the tracked tree, leave `git status` clean (studies go to the ignored runs/, figures are the
same bytes on every redraw)."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from test_search import BUDGET, GRID

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def _clone(to):
    """The working tree's tracked files (as they are now, committed or not) as a new one-commit repository."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is not copied
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*GIT, *args], cwd=to, check=True)


@pytest.mark.slow
def test_the_main_job_and_plot_all_leave_a_clean_clone_clean(tmp_path, compile_cache):
    clone = tmp_path / "clone"
    clone.mkdir()
    _clone(clone)
    env = {**os.environ, "PYTHONPATH": str(clone), "JAX_DISABLE_MOST_OPTIMIZATIONS": "1", "PYTHONUNBUFFERED": "1"}

    def scaling(*argv):
        done = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    out = scaling("search", *GRID, *BUDGET, "--compilation-cache", compile_cache)  # the main job, smoke-sized
    assert "storage runs/search_digits/journal.log" in out and "winner " in out
    drawn = scaling("plot", "all").split()
    assert "runs/search_digits/ranking.png" in drawn  # the user's study, not the committed one of its name
    assert "results/cifar10_width/figure3_width.png" in drawn and "results/figure3_efficientnet-b0_cifar10.png" in drawn
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout
    assert status == "", status
    assert (clone / "runs" / "search_digits" / "summary.json").exists()
