"""The README's sections say what the code does: its commands parse, its device check runs, and its
statements on where outputs go and what a trial records hold."""

import ast
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT

from scaling import cli, config, results
from scaling.schema import COMMITTED_DIR, RUNS_DIR, CalibrationConfig, SearchConfig, StudyConfig, SweepConfig

README = (ROOT / "README.md").read_text()


def _commands(text: str, program: str) -> list[str]:
    """Every line of ``text``'s ```bash blocks that runs ``program`` (comments dropped, continuations joined),
    and every inline `program ...` span with arguments (not ``[``, ``|`` or ``...``: those are a syntax)."""
    out = [span for span in re.findall(rf"(?<!`)`({program} [^`]+)`", text)
           if len(span.split()) > 2 and not any(mark in span for mark in ("[", "|", "..."))]
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(program + " "):
                out.append(line)
    return out


def _section(title: str) -> str:
    return README.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]


@pytest.mark.parametrize("command", _commands(README, "scaling"))
def test_every_scaling_command_in_the_readme_parses(command):
    """A renamed or retired flag, or a subcommand that no longer exists, fails here (exit 2)."""
    try:
        cli.build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as e:
        pytest.fail(f"{command!r} does not parse (exit {e.code})")


def test_the_readme_has_its_sections_and_their_commands():
    for title in ("Where outputs go", "Watching a study", "On several machines", "On a GPU or TPU"):
        assert f"### {title}\n" in README
    assert len(_commands(README, "scaling")) >= 25
    assert any("--storage postgresql://" in c for c in _commands(_section("On several machines"), "scaling"))
    assert "scaling status search_digits" in _commands(_section("Watching a study"), "scaling")


def test_the_device_check_of_the_gpu_section_runs_and_names_a_device():
    (check,) = _commands(_section("On a GPU or TPU"), "python")
    out = subprocess.run(shlex.split(check.replace("python", sys.executable, 1)), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert re.fullmatch(r"\[(\w+Device\(id=\d+\)(, )?)+\]\n", out), out


def test_what_the_gpu_section_says_a_trial_records_is_in_the_trials_table():
    for key in ("platform", "device_kind", "num_devices", "cpu"):
        assert key in results.RESULT_KEYS
        assert f"`{key}`" in _section("On a GPU or TPU")


def test_user_studies_go_to_an_ignored_directory_and_only_experiments_to_results():
    assert StudyConfig().results_dir == RUNS_DIR == "runs"
    assert f"/{RUNS_DIR}/" in (ROOT / ".gitignore").read_text().splitlines()
    for name in config.packaged_experiments():
        assert config.load_experiment(name, (SearchConfig, SweepConfig)).study.results_dir == RUNS_DIR, name
    files = sorted((ROOT / "experiments").rglob("*.py"))
    assert len(files) >= 19
    for path in files:
        cfg = config.load_experiment(str(path), (SearchConfig, SweepConfig, CalibrationConfig))
        assert cfg.study.results_dir == COMMITTED_DIR, path
    assert results.SEARCH_ROOTS == (RUNS_DIR, COMMITTED_DIR)


def test_a_study_in_runs_shadows_the_committed_one_of_its_name(tmp_path, monkeypatch):
    committed = ROOT / "results" / "search_digits"
    mine = tmp_path / RUNS_DIR / "search_digits"
    mine.mkdir(parents=True)
    for name in ("summary.json", "trials.parquet"):
        (mine / name).write_bytes((committed / name).read_bytes())
    (tmp_path / COMMITTED_DIR).symlink_to(ROOT / "results")
    monkeypatch.chdir(tmp_path)
    found = results.studies()
    assert found["search_digits"] == pathlib.Path(RUNS_DIR) / "search_digits"
    assert found["cifar10_width"] == pathlib.Path(COMMITTED_DIR) / "cifar10_width"
    assert results.study_root("search_digits") == RUNS_DIR and results.study_root("cifar10_width") == COMMITTED_DIR
    assert results.study_root("nothing") == RUNS_DIR and results.study_root("x", "elsewhere") == "elsewhere"


def _module_rows() -> dict[str, int]:
    """Each module or package path of the README's module map -> its row (0 = the top)."""
    table = README.split("| module | holds | imports |\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `scaling/")]
    return {path.rstrip("/"): i for i, line in enumerate(rows)
            for path in re.findall(r"`(scaling/[a-z_/]+?(?:\.py|/))`", line.split(" | ")[0])}


def test_the_module_map_lists_every_module_below_all_it_imports():
    """"Each module may import only those above it": every import in the package (lazy ones too) reads
    a module on the same row of the map or above it."""
    rows = _module_rows()

    def row(path: pathlib.Path) -> int:
        rel = path.relative_to(ROOT).with_suffix("")
        for parts in (rel.parts[:k] for k in range(len(rel.parts), 1, -1)):
            for key in ("/".join(parts) + ".py", "/".join(parts)):
                if key in rows:
                    return rows[key]
        raise AssertionError(f"{rel} is not in the README's module map")

    upward = []
    for path in sorted((ROOT / "scaling").rglob("*.py")):
        if path.name == "__init__.py" and path.parent.name == "scaling":
            continue
        mine = row(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in (n for n in names if n.startswith("scaling.")):
                target = ROOT / name.replace(".", "/")
                while not (target.with_suffix(".py").exists() or target.is_dir()):
                    target = target.parent  # from scaling.stats import interval -> scaling/stats.py
                module = target.with_suffix(".py")
                theirs = row(module if module.exists() else target / "__init__.py")
                if theirs > mine:
                    upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert rows["scaling/cli.py"] == max(rows.values()) and not upward, upward
