"""The ``scaling`` command line itself: one flag convention, help for every flag, a light parser."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from scaling import cli, config, schema, search, sweeps
from scaling.network import Network


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _usage_error(capsys, *argv) -> str:
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_building_the_parser_imports_no_jax_optuna_or_tensorflow():
    code = ("import sys; from scaling import cli; cli.build_parser(); "
            "print(sorted(m for m in ('jax', 'optuna', 'tensorflow', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_every_field_flag_is_its_name_and_every_flag_says_what_it_does_and_its_default():
    for name, p in _subcommands(cli.build_parser()).items():
        for action in p._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.option_strings or action.dest)
            if action.option_strings and action.dest in config.leaves(schema.SearchConfig) | config.leaves(
                    schema.SweepConfig) | config.leaves(schema.CalibrationConfig):
                assert action.option_strings[0] == "--" + action.dest.replace("_", "-"), action.option_strings
            shown = cli._HelpFormatter(name)._get_help_string(action)
            assert "default" in shown or action.required or not action.option_strings, (name, shown)
    train = _subcommands(cli.build_parser())["train"].format_help()
    assert "--epochs EPOCHS       passes over the train split (default: 1)" in train
    assert "--resolution-scale RESOLUTION_SCALE\n" in train and "(default: unset)" in train


def test_field_help_is_the_comment_after_each_field():
    assert config.field_help(Network)["resolution_scale"] == "r: the multiplier of base_resolution"
    assert config.field_help(schema.StudyConfig)["seeds"] == "runs of each network, seeds 0..seeds-1"
    assert "train" not in config.field_help(schema.StudyConfig)  # no comment: no help of its own
    defaults = config.leaf_defaults(schema.SweepConfig)
    assert defaults["name"] == ("sweep", "the study's name: its directory in results_dir, its Optuna study")
    assert defaults["epochs"][0] == 1 and defaults["baselines"][0] == ((1, 1), (1, 1.3), (2, 1), (2, 1.3))


def test_config_classes_are_the_ones_the_modules_run():
    assert search.SearchConfig is schema.SearchConfig and sweeps.SweepConfig is schema.SweepConfig


@pytest.mark.parametrize("argv, new", [
    (["search", "--study", "x"], "--name"),
    (["sweep", "width", "--study=x", "--dry-run"], "--name"),
    (["train", "--resolution", "2"], "--resolution-scale"),
    (["models", "--resolution", "2"], "--resolution-scale"),
    (["calibrate", "--study", "x"], "--name"),  # before --config's "required": the rename is the news
])
def test_a_retired_flag_is_a_usage_error_naming_its_new_spelling(capsys, argv, new):
    line = _usage_error(capsys, *argv)
    old = argv[2].split("=")[0] if argv[1] == "width" else argv[1]
    assert line == f"scaling: error: scaling {argv[0]}: {old} is now {new} (every flag is its config field's name)"


def test_flags_are_never_abbreviated(capsys):
    assert "unrecognized arguments: --epoch 2" in _usage_error(capsys, "train", "--epoch", "2")
    assert "unrecognized arguments: --dry" in _usage_error(capsys, "search", "--dry")
    assert "required: --studies" in _usage_error(capsys, "cam", "--stud", "a")


def test_print_config_prints_the_resolved_config_and_trains_nothing(capsys, tmp_path):
    argv = ["search", "--name", "s", "--seeds", "2", "--resolution-scale", "1.3", "--alpha", "1,1.2",
            "--results-dir", str(tmp_path), "--print-config"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = config.override(search.load_config(), name="s", seeds=2, resolution_scale=1.3, alpha=(1.0, 1.2),
                               results_dir=str(tmp_path))
    assert config.from_dict(schema.SearchConfig, printed) == expected and printed["study"]["train"]["epochs"] == 8
    assert not list(tmp_path.iterdir())
    assert cli.main(["sweep", "width", "--values", "1,2", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["values"] == [1.0, 2.0]
    assert cli.main(["train", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "1",
                     "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["network"]["resolution_scale"] == 1.15
    assert cli.main(["scale-up", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["study"]["name"] == "search_digits-scaleup-a1.20_b1.10_g1.15"


def test_the_sweep_names_in_help_are_the_registered_sweeps():
    assert sorted(cli._sweep_names()) == sorted(sweeps.SWEEPS)
