"""A study survives its own end: killed as a whole (again and again), Ctrl-C while XLA compiles,
SIGTERM, a full disk, a results directory that cannot be written. Nothing finished is lost, an
interruption never uses up a point's retries, and every end is one line and a known exit status.

Real processes (``python -m scaling.cli``) are killed for real; the full disk is a small tmpfs where
this machine lets the test mount one, and an injected ENOSPC otherwise.
"""

import collections
import errno
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import ROOT
from test_search import BUDGET, ENV, GRID, TIMEOUT, _complete_once, _config, _fake_train, _points, _trials

from scaling import cli, interrupt, results, train

TRAIN = ["train", "--dataset", "digits", "--depth", "0.25", "--width", "0.5", "--base-resolution", "16",
         "--epochs", "3", "--limit-train", "256", "--batch-size", "32"]


def _search(tmp_path, name, *extra, cache=None):
    argv = ["search", "--name", name, "--results-dir", str(tmp_path), *GRID, *BUDGET, *extra]
    return argv + (["--compilation-cache", cache] if cache else [])


def _start(argv, log: pathlib.Path) -> subprocess.Popen:
    """The command in a process group of its own (what a terminal, a scheduler or a VM's end kills)."""
    return subprocess.Popen([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, env=ENV, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(path: pathlib.Path, proc: subprocess.Popen, log: pathlib.Path) -> None:
    deadline = time.time() + TIMEOUT
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie its parent has not reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _children(pid: int) -> list[int]:
    return [c.pid for c in psutil.Process(pid).children()]


# --------------------------------------------------------------------------------------------
# Bad places to write: one line, exit 2, before anything trains
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["sys", "file"])
def test_a_results_dir_that_cannot_be_written_is_one_line_exit_2(where, tmp_path, monkeypatch, capsys):
    fake = _fake_train()
    monkeypatch.setattr(train, "train_and_evaluate", fake)
    if where == "file":
        (tmp_path / "plain").write_text("a file")
        results_dir = tmp_path / "plain" / "results"
    else:
        results_dir = pathlib.Path("/sys/scaling-test-results")
    argv = ["search", "--name", "nowhere", "--results-dir", str(results_dir), *GRID, *BUDGET]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("scaling: error: cannot write the study's results")
    assert ("is not a directory" if where == "file" else "cannot write in /sys") in err
    assert fake.calls == [] and not results_dir.exists()
    monkeypatch.undo()
    assert cli.main([*TRAIN, "--workdir", str(results_dir / "run")]) == 2
    assert "cannot write workdir" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------
def test_ctrl_c_while_xla_compiles_exits_130_with_one_line(tmp_path):
    """Before: the line, then a segfault 6-10 s later (exit -11) while XLA's compile threads ran on."""
    log, workdir = tmp_path / "train.log", tmp_path / "run"
    proc = _start([*TRAIN, "--workdir", str(workdir)], log)
    _wait_for(workdir / "config.json", proc, log)  # written before the train step compiles (about 5 s here)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
    assert proc.wait(timeout=60) == 130, log.read_text()
    text = log.read_text()
    assert text.strip().splitlines()[-1] == interrupt.MESSAGE, text
    assert "Traceback" not in text and not (workdir / "result.json").exists()
    time.sleep(2)
    assert _gone(proc.pid)
    proc = _start([*TRAIN, "--workdir", str(workdir)], log)  # the same command resumes
    assert proc.wait(timeout=TIMEOUT) == 0, log.read_text()[-3000:]


@pytest.mark.slow
def test_sigterm_ends_a_two_worker_study_and_its_workers_then_it_resumes(tmp_path, compile_cache):
    argv = _search(tmp_path, "term", "--workers", "2", "--max-retries", "0", cache=compile_cache)
    log = tmp_path / "1.log"
    proc = _start(argv, log)
    _wait_for(tmp_path / "term" / "trials", proc, log)
    deadline = time.time() + 60
    while len(_children(proc.pid)) < 2 and time.time() < deadline:  # the resource tracker and the second worker
        time.sleep(0.1)
    children = _children(proc.pid)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)  # to the study process alone, as `kill` and schedulers send it
    assert proc.wait(timeout=60) == 143, log.read_text()
    text = log.read_text()
    assert text.count(interrupt.MESSAGE) == 1 and "Traceback" not in text, text
    assert "leaked" not in text, text
    time.sleep(1.0)
    assert children and all(_gone(pid) for pid in children), children

    again = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, env=ENV, capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    trials = _trials(_config(argv))
    _complete_once(trials, _points(argv))
    assert {t.user_attrs["fail_kind"] for t in trials if t.state.name == "FAIL"} <= {"interrupted", "duplicate"}


@pytest.mark.slow
def test_a_study_killed_as_a_whole_again_and_again_finishes_every_point_once(tmp_path, compile_cache):
    """SIGKILL to the whole process group (a VM preempted, the OOM killer taking the study, `kill -9 -PGID`)
    at random moments, up to five times, then a run to the end: with --max-retries 0, one counted loss
    would drop its point for good."""
    # 6 runs (2 seeds), each sitting killed 3-9 s after its start. How many sittings the study needs
    # depends on the machine (a fast one with a warm compilation cache finished in its fifth), so the
    # test asks for three kills and for one of them to have hit a run in flight.
    argv = _search(tmp_path, "chaos", "--workers", "2", "--max-retries", "0", "--seeds", "2", cache=compile_cache)
    rng = random.Random(34)
    kills = []
    for k in range(5):
        log = tmp_path / f"{k}.log"
        proc = _start(argv, log)
        moment = rng.uniform(3, 9)
        time.sleep(moment)
        if proc.poll() is not None:  # it finished first: nothing left to kill
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append(round(moment, 1))
    assert len(kills) >= 3, kills
    final = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, env=ENV, capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert final.returncode == 0, f"killed at {kills} s\n" + final.stdout[-3000:] + final.stderr[-3000:]
    trials = _trials(_config(argv))
    _complete_once(trials, _points(argv))
    kinds = collections.Counter(t.user_attrs.get("fail_kind") for t in trials if t.state.name == "FAIL")
    assert set(kinds) <= {"interrupted", "duplicate", "spare"} and kinds["interrupted"], (kills, kinds)
    assert "incomplete" not in final.stdout and results.load(tmp_path / "chaos")[1]["complete"]


# --------------------------------------------------------------------------------------------
# A full disk
# --------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs, 2 MB of it taken by a file the test can delete (None where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the injected ENOSPC tests cover the same paths)")
    (mount / "filler").write_bytes(bytes(2_000_000))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_while_checkpointing_is_one_line_and_the_rerun_resumes(small_disk):
    """One epoch's checkpoint of this network is 3.2 MB: the second epoch's no longer fits beside it."""
    workdir, log = small_disk / "run", small_disk.parent / "train.log"
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *TRAIN, "--limit-train", "1024", "--workdir",
                           str(workdir)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.strip().splitlines() if " epoch " not in line]  # each epoch's progress
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"scaling: error: no space left on device writing {workdir}/ckpt (")
    assert "free there); free some space and rerun the same command to resume" in lines[0]
    epochs = (workdir / "metrics.jsonl").read_text().splitlines()
    assert len(epochs) >= 1 and not (workdir / "result.json").exists()
    (small_disk / "filler").unlink()
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *TRAIN, "--limit-train", "1024", "--workdir",
                           str(workdir)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workdir / "metrics.jsonl").read_text().splitlines()[:len(epochs)] == epochs  # no finished epoch lost
    log.write_text(proc.stdout)


def test_a_full_disk_in_a_study_stops_it_in_one_line_and_costs_no_retry(tmp_path, monkeypatch, capsys):
    """Injected: the second run's writer gets ENOSPC. The study stops (every later run would fail the
    same way), the run is an interruption, and the rerun finishes with --max-retries 0."""
    fake = _fake_train()
    calls = []

    def full(config, workdir):
        calls.append(workdir)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(pathlib.Path(workdir) / "metrics.jsonl"))
        return fake(config, workdir)

    monkeypatch.setattr(train, "train_and_evaluate", full)
    argv = _search(tmp_path, "full", "--max-retries", "0")
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"scaling: error: no space left on device writing {calls[1]}/metrics")
    assert len(calls) == 2  # stopped: the third run was not started
    assert cli.main(argv) == 0
    trials = _trials(_config(argv))
    _complete_once(trials, _points(argv))
    assert [t.user_attrs["fail_kind"] for t in trials if t.state.name == "FAIL"] == ["interrupted"]


def test_a_full_disk_while_writing_the_tables_keeps_the_old_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    argv = _search(tmp_path, "tables")
    assert cli.main(argv) == 0
    before = (tmp_path / "tables" / "trials.csv").read_bytes()

    def no_space(tmp):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr(results.files, "atomic_write", lambda path, write: no_space(pathlib.Path(path)))
    capsys.readouterr()
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on device writing" in err[0] and "trials.csv" in err[0], err
    assert (tmp_path / "tables" / "trials.csv").read_bytes() == before


def test_a_killed_local_worker_is_said_once_and_a_clean_exit_not_at_all(capsys):
    """The heartbeat's check of the study's own workers: one stderr line per worker a signal ended."""
    from scaling import study

    Child = collections.namedtuple("Child", "pid exitcode")
    children = [Child(11, -9), Child(12, 0), Child(13, None), Child(14, -15)]
    said: set = set()
    study._say_ended(children, said)
    study._say_ended(children, said)  # the next heartbeat: nothing new
    lines = capsys.readouterr().err.splitlines()
    host = study.HOST
    assert lines == [f"scaling: worker {host}:11 was killed by signal 9 (out of memory?); its run is queued again",
                     f"scaling: worker {host}:14 was killed by signal 15; its run is queued again"]
    assert said == {11, 14}
