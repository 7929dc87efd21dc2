"""Config list fields: tuples in the config, text on a command line, an experiment file or a stored definition."""

from __future__ import annotations

import json

import pytest

from scaling import calibration, config, search, sweeps
from scaling.study import StudyConfig


def test_list_fields_hold_tuples_from_text_lists_or_tuples():
    cfg = sweeps.SweepConfig(values="1,1.4", baselines="1/1,2/1.3", phi="0:2", strategies="compound, dwr")
    assert cfg.values == (1.0, 1.4) and cfg.baselines == ((1.0, 1.0), (2.0, 1.3)) and cfg.phi == (0.0, 1.0, 2.0)
    assert cfg.strategies == ("compound", "dwr") and cfg.costs == ()
    assert sweeps.SweepConfig(values=[1, 1.4]).values == (1, 1.4)  # a JSON list
    assert config.override(cfg, values="2:3:0.5", budgets="1,2,1@all").values == (2.0, 2.5, 3.0)
    assert config.override(cfg, budgets="1,2,1@all").study.budgets == ("1", "2", "1@all")
    assert search.SearchConfig(alpha="1.2").alpha == (1.2,) and calibration.CalibrationConfig(
        networks="1/1/1,2/1/1").networks == ((1.0, 1.0, 1.0), (2.0, 1.0, 1.0))
    back = config.from_dict(sweeps.SweepConfig, json.loads(json.dumps(config.to_dict(cfg))))
    assert back == cfg  # a JSON round trip gives the same tuples


def test_a_definition_stored_with_text_lists_reads_as_the_same_lists():
    stored = {"study": {"name": "s", "budgets": "1,2,4,1@all"}, "values": "1:1.4:0.2", "phi": "0:3",
              "baselines": "1/1,2/1.3", "alpha": 1.2}  # alpha: a sweep's one number stays one
    assert config.upgrade(stored) == {"study": {"name": "s", "budgets": ["1", "2", "4", "1@all"]},
                                      "values": [1.0, 1.2, 1.4], "phi": [0.0, 1.0, 2.0, 3.0],
                                      "baselines": [[1.0, 1.0], [2.0, 1.3]], "alpha": 1.2}
    assert StudyConfig(budgets="").budgets == ()


@pytest.mark.parametrize("field, text, message", [
    ("values", "1,x", "values: not a number, list or start:stop:step range: '1,x'"),
    ("baselines", "1/a", "baselines: not a list of d/w/r groups like 1/1,2/1.3: '1/a'"),
    ("phi", "0:x", "phi: not a phi range start:stop: '0:x'"),
])
def test_bad_list_text_is_one_line_naming_the_field(field, text, message):
    with pytest.raises(config.ConfigError) as e:
        config.override(sweeps.SweepConfig(), **{field: text})
    assert str(e.value) == message
