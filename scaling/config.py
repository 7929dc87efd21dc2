"""Configs as code: nested dataclasses, one override path for flags, JSON round trips, experiment files.

Every config of the package (``TrainConfig``, ``SearchConfig``, ``SweepConfig`` and what they hold,
:mod:`scaling.schema`) is a dataclass tree whose leaf field names are unique across the tree, so a
flat flag such as ``--epochs 20`` or ``--seeds 3`` names exactly one leaf. :func:`override` is the only place where
flags change a config; :func:`to_dict` / :func:`from_dict` are the only JSON round trip.

Experiment files are Python modules with a ``get_config()`` (big_vision's style). Those shipped
with the package live in :mod:`scaling.configs` and are found by name (``search_digits``,
``sweep_width``); any other is given by path (``experiments/cifar10/sweep_width.py``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import importlib.resources
import importlib.util
import inspect
import io
import pathlib
import textwrap
import tokenize
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A config that cannot run (one line, exit status 2)."""


def one_line(text) -> str:
    return " ".join(str(text).split())


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_type(annotation) -> type | None:
    """The dataclass in ``annotation`` (``Network``, ``Network | None``), else None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def leaves(cls) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Leaf name -> (path of field names, annotation) for the dataclass tree ``cls``.

    Raises TypeError when two leaves share a name (a flag could not tell them apart).
    """
    out: dict[str, tuple[tuple[str, ...], Any]] = {}
    for name, annotation in _hints(cls).items():
        sub = _dataclass_type(annotation)
        items = ({k: ((name, *p), a) for k, (p, a) in leaves(sub).items()} if sub else {name: ((name,), annotation)})
        for leaf, value in items.items():
            if leaf in out:
                raise TypeError(f"{cls.__name__}: two fields named {leaf!r} ({out[leaf][0]} and {value[0]})")
            out[leaf] = value
    return out


@functools.cache
def field_help(cls) -> dict[str, str]:
    """Field name -> the comment after the field in ``cls``'s source (``epochs: int = 1  # passes over
    the train split``): a config field's one description, which the ``scaling`` command's --help shows.

    Read with :mod:`tokenize` (a ``#`` inside a string is no comment) rather than kept beside the
    fields a second time, so a field's comment and its flag's help cannot drift apart.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    out, field, previous, starts_line = {}, None, None, True
    for token in tokenize.generate_tokens(io.StringIO(textwrap.dedent(inspect.getsource(cls))).readline):
        if token.type == tokenize.OP and token.string == ":" and previous and previous[1] in names and previous[0]:
            field = previous[1]
        elif token.type == tokenize.COMMENT and field:
            out[field] = token.string.lstrip("#").strip()
        if token.type == tokenize.NEWLINE:
            field = None
        previous = (starts_line, token.string) if token.type == tokenize.NAME else None
        starts_line = token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
    return out


def leaf_defaults(cls) -> dict[str, tuple[Any, str]]:
    """Leaf name -> (its value in ``cls()``, its description: :func:`field_help` of the dataclass holding it)."""
    out, default = {}, cls()
    for leaf, (path, _) in leaves(cls).items():
        holder = default
        for name in path[:-1]:
            holder = getattr(holder, name)
        out[leaf] = (getattr(holder, path[-1]), field_help(type(holder)).get(path[-1], ""))
    return out


def override(config, **changes):
    """``config`` with leaf fields replaced, wherever they sit in the tree. Unknown names: ConfigError."""
    known = leaves(type(config))
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ConfigError(f"unknown field(s) for {type(config).__name__}: {', '.join(unknown)}")
    return _replace(config, {known[k][0]: v for k, v in changes.items()})


def _replace(obj, changes: dict[tuple[str, ...], Any]):
    own = {path[0]: v for path, v in changes.items() if len(path) == 1}
    for field in {path[0] for path in changes if len(path) > 1}:
        inner = {p[1:]: v for p, v in changes.items() if len(p) > 1 and p[0] == field}
        own[field] = _replace(getattr(obj, field), inner)
    return dataclasses.replace(obj, **own)


#: Fields renamed after configs were stored (study definitions, ``config.json``, ``summary.json``):
#: the key a field is stored under -> {old name: new name} inside it. :func:`upgrade` applies it, so
#: a stored config reads as the newer code writes it.
RENAMED_FIELDS = {"network": {"resolution": "resolution_scale"}}  # Network's multiplier r


def upgrade(tree):
    """A copy of the JSON tree ``tree`` with every :data:`RENAMED_FIELDS` rename applied (key order kept)
    and every list field stored as text (before configs held tuples) read as its list (:data:`LISTS`)."""
    if isinstance(tree, list):
        return [upgrade(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    out = {}
    for key, value in tree.items():
        renames = RENAMED_FIELDS.get(key)
        if renames and isinstance(value, dict):
            value = {renames.get(k, k): v for k, v in value.items()}
        if key in LISTS and isinstance(value, str):
            value = _lists(parse_list(key, value))
        out[key] = upgrade(value)
    return out


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------------------------
# List fields: real tuples, written compactly on a command line or in an experiment file
# --------------------------------------------------------------------------------------------
def _numbers(text: str) -> tuple[float, ...]:
    from scaling.scaling_math import parse_range

    return tuple(parse_range(text))


def _phis(text: str) -> tuple[float, ...]:
    from scaling.scaling_math import parse_phis

    return tuple(parse_phis(text))


def _groups(text: str) -> tuple[tuple[float, ...], ...]:
    try:
        return tuple(tuple(float(x) for x in item.split("/")) for item in text.split(","))
    except ValueError:
        raise ValueError(f"not a list of d/w/r groups like 1/1,2/1.3: {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


#: Every list field of the package's configs by name, with how its text form is read: numbers
#: ``1,1.4,2`` or a range ``start:stop:step``; phis ``0:3`` (step 1); groups ``1/1,2/1.3``; names
#: ``a,b``. A config holds each as a tuple (:class:`Lists`); a flag, an experiment file or a stored
#: definition may give the text.
LISTS = {"alpha": _numbers, "beta": _numbers, "gamma": _numbers, "values": _numbers, "lr_factors": _numbers,
         "costs": _numbers, "phi": _phis, "baselines": _groups, "networks": _groups, "budgets": _names,
         "strategies": _names}


def parse_list(name: str, text: str) -> tuple:
    """The list field ``name`` from its text form (``""``: the empty tuple); ConfigError, one line."""
    if not text.strip():
        return ()
    try:
        return LISTS[name](text.strip())
    except ValueError as e:
        raise ConfigError(f"{name}: {one_line(e)}") from None


class Lists:
    """A config whose tuple fields (names in :data:`LISTS`) also take their text form or a list, and
    hold tuples: ``SweepConfig(values="1,1.4")`` holds ``(1.0, 1.4)``."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in LISTS or isinstance(value, (int, float)):  # a sweep's alpha is one number
                continue
            if isinstance(value, str):
                value = parse_list(field.name, value)
            setattr(self, field.name, _tuples(value))


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def to_dict(config) -> dict:
    """The config as plain JSON-ready values (nested dicts)."""
    return dataclasses.asdict(config)


def from_dict(cls, values: dict):
    """The dataclass tree ``cls`` from :func:`to_dict`'s output, stored ones with renamed fields too
    (:func:`upgrade`); ConfigError for unknown keys."""
    values = upgrade(values)
    hints = _hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ConfigError(f"unknown field(s) for {cls.__name__}: {', '.join(unknown)}")
    kwargs = {}
    for name, value in values.items():
        sub = _dataclass_type(hints[name])
        kwargs[name] = from_dict(sub, value) if sub and isinstance(value, dict) else value
    return cls(**kwargs)


def differences(config, stored: dict, ignore=()) -> list[str]:
    """The top-level fields, those named in ``ignore`` aside, in which ``stored`` (a :func:`to_dict`
    of another config, read back from JSON; renamed fields read with their new names, :func:`upgrade`)
    differs from ``config``; sorted."""
    mine, stored = to_dict(config), upgrade(stored)
    return sorted(k for k in mine if k not in ignore and stored.get(k) != mine[k])


# --------------------------------------------------------------------------------------------
# Experiment files
# --------------------------------------------------------------------------------------------
def packaged_experiments() -> list[str]:
    """Names of the experiment files shipped in :mod:`scaling.configs`."""
    root = importlib.resources.files("scaling.configs")
    return sorted(p.name[:-3] for p in root.iterdir() if p.name.endswith(".py") and not p.name.startswith("_"))


def load_experiment(name_or_path: str, expected: type | tuple[type, ...]):
    """``get_config()`` of a packaged experiment (by name) or of the Python file ``name_or_path``.

    The result must be an instance of ``expected``; every failure is one ConfigError line.
    """
    path = pathlib.Path(name_or_path)
    if path.suffix != ".py" and name_or_path in packaged_experiments():
        module_name = f"scaling.configs.{name_or_path}"
        where = f"scaling/configs/{name_or_path}.py"
        load = lambda: importlib.import_module(module_name)  # noqa: E731
    elif path.is_file():
        where = str(path)
        load = lambda: _module_from_file(path)  # noqa: E731
    else:
        close = difflib.get_close_matches(name_or_path, packaged_experiments(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"no experiment file {name_or_path} ({hint}packaged: {', '.join(packaged_experiments())})")
    try:
        config = load().get_config()
    except Exception as e:  # anything a broken file raises
        raise ConfigError(f"{where}: {one_line(f'{type(e).__name__}: {e}')}") from None
    if not isinstance(config, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ConfigError(f"{where}: get_config() must return a {names}, not {type(config).__name__}")
    return config


def _module_from_file(path: pathlib.Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
