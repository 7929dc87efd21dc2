"""Class activation maps (Zhou et al. 2016) of finished runs, and the paper's Fig. 7 grid.

The CAM of class k is ``sum_c W[c, k] F[:, :, c]``: F is the last feature map (``model.features``),
W the classifier kernel (``model.classifier.kernel``, (channels, classes); the same attribute in
EfficientNet, MobileNetV2 and ResNet). Its spatial mean is the logit of k minus the classifier bias,
since the classifier reads the global average of F. Maps are upsampled bilinearly to the input size
and scaled to [0, 1] per image; a network's output stride (32 for the three baselines, 16 in the proxies) sets their
coarseness, so inputs under 64 px give 1x1 or 2x2 maps.

Fig. 7 compares, on the same images, the baseline and its deeper, wider, higher-resolution and
compound-scaled versions: :func:`pick` finds them among the finished runs of one or more studies
(a compound-vs-single sweep holds all five) by their (d, w, r) multipliers.

Checkpoints are not committed, so in a clone the runs of a committed study have their tables but
not their weights: :func:`missing_checkpoints` names, per study, the command that trains them again
and the run time its trials table measured for them.
"""

from __future__ import annotations

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx
from matplotlib.figure import Figure

from scaling import config, plots, results, train
from scaling.config import ConfigError
from scaling.runs import load_model

ROLES = ("baseline", "deeper", "wider", "higher resolution", "compound")

#: Imagenette's class folders are ImageNet WordNet IDs; the figure shows their names (the list in the
#: docstring of TFDS's imagenette builder, which keeps no table of them).
CLASS_NAMES = {"n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
               "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
               "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball",
               "n03888257": "parachute"}


def class_name(name: str) -> str:
    """A class folder's name as shown: an Imagenette WordNet ID as its class name, anything else as is."""
    return CLASS_NAMES.get(name, name)


class CamError(ConfigError):
    """No runs to draw (unknown study, no finished run of any role); one line, exit 2."""


# --------------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------------
@nnx.jit
def raw_maps(model, images) -> tuple[jax.Array, jax.Array]:
    """(CAMs of the predicted classes at feature-map size (B, h, w), logits (B, classes))."""
    features = model.features(images).astype(jnp.float32)
    logits = model(images)
    kernel = model.classifier.kernel[...].astype(jnp.float32)
    weights = kernel[:, jnp.argmax(logits, -1)].T  # (B, channels)
    return jnp.einsum("bhwc,bc->bhw", features, weights), logits


def class_activation_maps(model, images) -> tuple[np.ndarray, np.ndarray]:
    """(CAMs (B, H, W) in [0, 1] at the input size, predicted classes (B,)) of ``model`` on ``images``."""
    maps, logits = raw_maps(model, images)
    b, h, w = images.shape[:3]
    maps = jax.image.resize(maps, (b, h, w), method="bilinear")
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    cams = jnp.where(span > 0, (maps - low) / jnp.where(span > 0, span, 1), 0.0)
    return np.asarray(cams), np.asarray(jnp.argmax(logits, -1))


# --------------------------------------------------------------------------------------------
# Which runs
# --------------------------------------------------------------------------------------------
def finished_runs(results_dir: str | os.PathLike | None, studies: list[str]) -> pd.DataFrame:
    """Completed runs of ``studies``: study, candidate, seed, (d, w, r) multipliers of the study's
    baseline (a sweep's own, a search's alpha^phi, beta^phi, gamma^phi), macs, test_top1, workdir."""
    known = results.studies(results_dir)
    frames = []
    for study in studies:
        if study not in known:
            raise CamError(f"no study {study!r} in {results.where(results_dir)} (no trials.parquet)")
        df, _ = results.load(known[study])
        done = df[df["state"] == "COMPLETE"]
        if "d" in done:  # a sweep: the multipliers themselves
            d, w, r = done["d"], done["w"], done["r"]
        else:  # a search or scale-up: (alpha, beta, gamma)^phi
            d, w, r = (done[k] ** done["phi"] for k in ("alpha", "beta", "gamma"))
        frames.append(pd.DataFrame({
            "study": study, "candidate": done["candidate"], "seed": done["seed"], "d": d, "w": w, "r": r,
            "macs": done["macs"],
            "test_top1": done["test_top1"], "workdir": [str(known[study] / "trials" / p) for p in done["point"]]}))
    return pd.concat(frames, ignore_index=True)


def missing_checkpoints(results_dir: str | os.PathLike | None, studies: list[str]) -> list[dict]:
    """Each of ``studies`` whose finished runs lack their checkpoint: ``study``, ``runs`` (how many),
    ``seconds`` (their wall time, as its trials table measured it), ``command`` (the ``scaling``
    arguments of the study command that trains them again, or None) and ``why`` (why there is none)."""
    runs = finished_runs(results_dir, studies)
    missing = runs[[not (pathlib.Path(w) / "ckpt").is_dir() for w in runs["workdir"]]]
    known = results.studies(results_dir)
    out = []
    for study, rows in missing.groupby("study", sort=False):
        df, summary = results.load(known[study])
        seconds = float(df.loc[df["point"].isin([pathlib.Path(w).name for w in rows["workdir"]]), "wall_time"].sum())
        command, why = _study_command(summary, known[study].parent)
        if (known[study] / "journal.log").exists():  # resuming from it would skip the runs it holds as done
            command, why = None, f"its journal {known[study] / 'journal.log'} records them as finished"
        out.append({"study": study, "runs": len(rows), "seconds": seconds, "command": command, "why": why})
    return out


def describe_missing(entry: dict) -> str:
    """One line: which runs lack checkpoints, the command that retrains them and how long it took them."""
    head = f"study {entry['study']!r}: {entry['runs']} finished run(s) have no checkpoint (not committed)"
    if entry["command"] is None:
        return f"{head}; {entry['why']}, so no command here retrains them"
    return (f"{head}; `scaling {' '.join(map(_quoted, entry['command']))}` retrains them in "
            f"{entry['seconds'] / 60:.1f} min of run time as its trials table measured (--workers N shares it), "
            "or rerun this with --train-missing to run it and draw")


def _quoted(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./:=,@" for c in arg) else repr(arg)


#: Where :func:`_study_command` looks for the experiment file that defines a study (run from the repository root).
EXPERIMENTS = pathlib.Path("experiments")


def _study_command(summary: dict, root: pathlib.Path) -> tuple[list[str] | None, str]:
    """(the ``scaling`` arguments that run the study of ``summary``, whose table is in the results directory
    ``root``, from its experiment file, "") or (None, why not): a sweep or search defined by a file under
    :data:`EXPERIMENTS` or a packaged one."""
    from scaling.search import SearchConfig
    from scaling.sweeps import SweepConfig

    study, kind = summary["study"], summary["kind"]
    if kind != "search" and not kind.startswith("sweep:"):
        return None, f"a {kind} study"
    files = [str(f) for f in sorted(EXPERIMENTS.rglob("*.py"))]
    for name in [*files, *config.packaged_experiments()]:
        path = pathlib.Path(name) if name in files else None
        if path is not None and study not in path.read_text():  # cheap: most files name another study
            continue
        try:
            cfg = config.load_experiment(name, (SweepConfig, SearchConfig))
        except ConfigError:
            continue
        if cfg.study.name != study or (kind == "search") != isinstance(cfg, SearchConfig):
            continue
        where = [] if root == pathlib.Path(cfg.study.results_dir) else ["--results-dir", str(root)]
        head = ["search"] if kind == "search" else ["sweep", kind.removeprefix("sweep:")]
        return [*head, "--config", name, *where], ""
    return None, f"no experiment file under {EXPERIMENTS}/ defines study {study!r}"


def role(d: float, w: float, r: float) -> str | None:
    """Fig. 7's name for a network scaled by (d, w, r); None when a multiplier is below 1."""
    if min(d, w, r) < 1 - 1e-9:
        return None
    grown = [x > 1 + 1e-9 for x in (d, w, r)]
    if sum(grown) == 0:
        return "baseline"
    if sum(grown) > 1:
        return "compound"
    return ("deeper", "wider", "higher resolution")[grown.index(True)]


def pick(runs: pd.DataFrame, gmacs: float | None = None) -> dict[str, pd.Series]:
    """One run per role present (lowest seed): the scaled ones closest in MACs (ratio) to ``gmacs``
    billion, by default to the largest compound network (or the largest network when none is compound)."""
    runs = runs.assign(role=[role(*x) for x in zip(runs["d"], runs["w"], runs["r"], strict=True)])
    runs = runs.dropna(subset=["role"]).sort_values("seed", kind="stable")
    if runs.empty:
        raise CamError("no finished run to draw")
    compound = runs[runs["role"] == "compound"]
    target = gmacs * 1e9 if gmacs else (compound if len(compound) else runs)["macs"].max()
    out = {}
    for name in ROLES:
        mine = runs[runs["role"] == name]
        if len(mine):
            out[name] = mine.loc[(np.log(mine["macs"] / target)).abs().idxmin()]
    return out


# --------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------
def _title(name: str, run: pd.Series) -> str:
    coeffs = {"baseline": "", "deeper": f"d={run['d']:.3g}", "wider": f"w={run['w']:.3g}",
              "higher resolution": f"r={run['r']:.3g}",
              "compound": f"d={run['d']:.3g}, w={run['w']:.3g}, r={run['r']:.3g}"}[name]
    return f"{name}\n{coeffs}\n{run['macs'] / 1e6:.2f} MMACs, top-1 {100 * run['test_top1']:.1f}%"


def figure(picked: dict[str, pd.Series], images: int = 4) -> Figure:
    """The CAM grid: one row per test image (the first ``images``), one column per picked run."""
    loaded = {name: load_model(run["workdir"]) for name, run in picked.items()}
    configs = {(cfg.dataset, cfg.data_dir, cfg.limit_test) for _, cfg, _ in loaded.values()}
    if len(configs) != 1:
        raise CamError(f"the runs use different test sets: {sorted(map(str, configs))}")
    _, cfg, _ = next(iter(loaded.values()))
    dataset = train.load_dataset(cfg)
    n = min(images, dataset.size("test"))
    if n < 1:
        raise CamError(f"need at least one image, got {images}")
    mean, std = np.asarray(dataset.mean), np.asarray(dataset.std)
    fig = Figure(figsize=(2.3 * len(loaded), 2.3 * n + 1.0), layout="constrained")
    axes = fig.subplots(n, len(loaded), squeeze=False)
    for j, (name, (model, _, result)) in enumerate(loaded.items()):
        x, labels, _ = next(dataset.batches("test", n, resolution=result["resolution"], train=False))
        cams, predicted = class_activation_maps(model, x)
        shown = np.clip(np.asarray(x, np.float32) * std + mean, 0, 1)
        axes[0, j].set_title(_title(name, picked[name]), fontsize="small")
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(shown[i], extent=(0, 1, 0, 1))
            ax.imshow(cams[i], cmap="inferno", alpha=0.5, vmin=0, vmax=1, extent=(0, 1, 0, 1))  # uniform, CB-safe
            ax.set_xticks([])
            ax.set_yticks([])
            right = predicted[i] == int(labels[i])
            # Right or wrong in the mark as well as the colour (Okabe-Ito blue / vermillion): colour-blind safe.
            ax.set_xlabel(f"{'✓' if right else '✗'} pred {class_name(dataset.class_names[predicted[i]])}",
                          color=plots.OKABE_ITO[5] if right else plots.OKABE_ITO[4], fontsize="small")
            if j == 0:
                ax.set_ylabel(f"true {class_name(dataset.class_names[int(labels[i])])}", fontsize="small")
    fig.suptitle(f"Class activation maps of the predicted class ({results.dataset_label(cfg.dataset)} test images)")
    return fig


def cam_grid(results_dir: str | os.PathLike, studies: list[str], images: int = 4,
             gmacs: float | None = None) -> tuple[Figure, dict[str, pd.Series]]:
    """Fig. 7 from finished studies: (figure, the run picked for each role)."""
    picked = pick(finished_runs(results_dir, studies), gmacs)
    return figure(picked, images), picked


def default_path(results_dir: str | os.PathLike | None, studies: list[str]) -> pathlib.Path:
    return results.studies(results_dir)[studies[0]] / "cams"
