"""Training budgets as a dimension of a study: the same networks and seeds, trained at several budgets.

A budget multiplies the study's epochs and may set how many training images the runs draw
(``limit_train``). ``"1,2,4"`` trains every point at 1x, 2x and 4x the study's epochs;
``"1,2,4,1@all"`` adds an arm at 1x the epochs on the whole training split (``@10000``: on 10,000
images). Every run is a full run of its own length: the warm-up and the cosine decay follow the
run's own epochs (``recipes``), never a truncated longer run. A point at a budget is named
``<network>_<label>`` (``d1_w1_r1_x2``); its params record ``budget`` (the label) and its attrs the
``network`` it scales, so the tables say which runs are one network at several budgets.
"""

from __future__ import annotations

import dataclasses
import math

from scaling.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Budget:
    """``epochs`` times the study's epochs, on ``images`` training images (None: the study's; 0: all)."""

    epochs: float
    images: int | None = None

    @property
    def label(self) -> str:
        images = "" if self.images is None else f"@{self.images or 'all'}"
        return f"x{self.epochs:g}{images}"

    def changes(self, epochs: int, limit_train: int | None) -> dict:
        """The TrainConfig fields a run at this budget sets, from the study's ``epochs`` and ``limit_train``."""
        total = self.epochs * epochs
        if abs(total - round(total)) > 1e-9 or round(total) < 1:
            raise ConfigError(f"budget {self.label}: {self.epochs:g} x {epochs} epochs is not a whole number >= 1")
        out = {"epochs": int(round(total))}
        if self.images is not None:
            out["limit_train"] = self.images or None
        elif limit_train is not None:
            out["limit_train"] = limit_train
        return out


def parse(items: tuple[str, ...]) -> list[Budget]:
    """``("1", "2", "4", "1@all")`` -> budgets; ``()`` -> [] (the study has one budget, its own)."""
    out = []
    for item in items:
        epochs, _, images = item.partition("@")
        try:
            budget = Budget(float(epochs), None if not _ else (0 if images == "all" else int(images)))
        except ValueError:
            raise ConfigError(f"budgets: {item!r} is not E or E@N (E times the epochs, on N images or 'all')") \
                from None
        if not (math.isfinite(budget.epochs) and budget.epochs > 0) or (budget.images or 0) < 0:
            raise ConfigError(f"budgets: {item!r} needs E > 0 and N >= 1")
        out.append(budget)
    labels = [b.label for b in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"budgets: {','.join(items)!r} names a budget twice")
    return out


def expand(points: list, budgets: list[Budget], epochs: int, limit_train: int | None) -> list:
    """Every point at every budget, seed by seed, the arms on other image counts last (a study cut
    short holds whole seeds at every epoch budget); ``points`` unchanged when ``budgets`` is empty."""
    seeds = sorted({p.seed for p in points})
    order = [(seed, b) for arms in (False, True) for seed in seeds for b in budgets if (b.images is not None) == arms]
    return [dataclasses.replace(p, name=f"{p.name}_{b.label}", params={**p.params, "budget": b.label},
                                attrs={**p.attrs, "network": p.name},
                                changes={**p.changes, **b.changes(epochs, limit_train)})
            for seed, b in order for p in points if p.seed == seed] if budgets else list(points)


def apply(study, points: list) -> list:
    """``points`` at every budget of the StudyConfig ``study`` (``study.budgets``)."""
    return expand(points, parse(study.budgets), study.train.epochs, study.train.limit_train)
