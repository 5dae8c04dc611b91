"""Gather the runs of one multirun (or one run) into tables (CSV + markdown) and a plot of mean ± std over seeds.

python scripts/collect_results.py outputs/train/multiruns/<date>   # writes results{,_grouped}.csv, .md, .png there

The folder must be a Hydra multirun folder (``multirun.yaml`` and a folder per job: ``0``, ``1``, ...) or a run
folder (``summary.json`` or ``.hydra/``); anything else is refused (exit 2).  Every job is listed with its status;
only finished runs enter the means (interrupted, failed or still running ones are listed, not averaged).  Runs are
grouped by their overrides other than ``seed``; the plot shows only the overrides that vary between runs (the
constant ones go in its title), each group's mean ± std (and every run as a dot) on an axis zoomed to the data.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import matplotlib
import pandas as pd
import yaml
from matplotlib.figure import Figure

COLUMNS = [
    "run",
    "status",
    "overrides",
    "test_acc",
    "best_val_acc",
    "epochs",
    "params",
    "wall_time_s",
    "train_samples_per_s",
]
SEED = "seed"
FINISHED = "finished"
NO_SUMMARY = "no summary.json (failed, killed or running)"


class NotARunFolder(ValueError):
    """The path given is neither a multirun folder nor a run folder."""


def is_run(path: Path) -> bool:
    """A folder a run wrote: it has ``summary.json`` (finished or interrupted) or ``.hydra/`` (started)."""
    return (path / "summary.json").is_file() or (path / ".hydra").is_dir()


def run_folders(root: Path) -> list[Path]:
    """The job folders of the multirun ``root`` in job order, or ``[root]`` for a run folder."""
    expected = "a multirun folder (multirun.yaml and numbered job folders) or a run folder (summary.json or .hydra/)"
    if not root.is_dir():
        raise NotARunFolder(f"{root}: no such folder; expected {expected}")
    if (root / "multirun.yaml").is_file():
        jobs = [p for p in root.iterdir() if p.is_dir() and is_run(p)]
        if not jobs:
            raise NotARunFolder(f"{root}: has multirun.yaml but no job folder with summary.json or .hydra/ yet")
        return sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))
    if is_run(root):
        return [root]
    raise NotARunFolder(f"{root} is not {expected}")


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``["model=mlp", "+trainer.x=1"]`` → ``{"model": "mlp", "trainer.x": "1"}`` (deletions ``~key`` are kept)."""
    pairs = (o.lstrip("+").split("=", 1) for o in overrides)
    return {p[0]: p[1] if len(p) == 2 else "" for p in pairs}


def read_run(run: Path) -> dict:
    """A run's ``summary.json`` (``status`` set), or its status and its overrides from ``.hydra/`` when it has none."""
    if (run / "summary.json").is_file():
        summary = json.loads((run / "summary.json").read_text())
        return {"status": summary.get("status", FINISHED), **summary}
    overrides = run / ".hydra" / "overrides.yaml"
    return {"status": NO_SUMMARY, "overrides": yaml.safe_load(overrides.read_text()) if overrides.is_file() else []}


def collect(root: Path) -> pd.DataFrame:
    """One row per run of the multirun or run folder ``root``, in job order, with a column per override key."""
    rows = []
    for run in run_folders(root):
        summary = read_run(run)
        overrides = summary.get("overrides") or []
        rows.append(
            {
                "run": run.name if run == root else str(run.relative_to(root)),
                "overrides": " ".join(overrides),
                **{k: summary.get(k) for k in COLUMNS if k not in ("run", "overrides")},
                **{f"override:{k}": v for k, v in parse_overrides(overrides).items()},
            }
        )
    df = pd.DataFrame(rows)
    return df[[*COLUMNS, *sorted(c for c in df.columns if c.startswith("override:"))]]


def split_overrides(df: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The override keys whose value differs between runs, and the constant ones with their value."""
    keys = [c.removeprefix("override:") for c in df.columns if c.startswith("override:")]
    values = {k: df[f"override:{k}"].fillna("<default>") for k in keys}
    varying = [k for k in keys if values[k].nunique() > 1]
    return varying, {k: values[k].iloc[0] for k in keys if k not in varying}


def settings(df: pd.DataFrame) -> pd.Series:
    """Each run's setting: its varying overrides other than ``seed`` (``"all runs"`` when there are none)."""
    varying, _ = split_overrides(df)
    by = [k for k in varying if k != SEED]
    if not by:
        return pd.Series("all runs", index=df.index)
    values = df[[f"override:{k}" for k in by]].fillna("<default>").astype(str)
    return values.apply(lambda row: " ".join(f"{k}={v}" for k, v in zip(by, row)), axis=1)


def group(df: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean, std (ddof 1; NaN for a single run) and count ``n`` of ``metric`` per setting over the finished runs,
    in run order."""
    done = df["status"] == FINISHED
    runs = pd.DataFrame({"setting": settings(df)[done], "value": pd.to_numeric(df.loc[done, metric], errors="coerce")})
    stats = runs.groupby("setting", sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return stats.rename(columns={"count": "n"})


def figure(df: pd.DataFrame, metric: str = "test_acc") -> Figure:
    """Mean ± std of ``metric`` per setting over the finished runs (grey dots: single runs), the numbers on the
    right; an accuracy axis stays within [0, 1]."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = group(df, metric).query("n > 0").reset_index(drop=True)
    done = df["status"] == FINISHED
    _, constant = split_overrides(df)
    values = pd.to_numeric(df.loc[done, metric], errors="coerce")
    spread = stats["std"].fillna(0.0)
    row_of = {setting: i for i, setting in enumerate(stats["setting"])}
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(stats) + 1.9), layout="constrained")
    ax.scatter(values, settings(df)[done].map(row_of), color="0.6", s=14, zorder=2, label="single run")
    ax.errorbar(stats["mean"], stats.index, xerr=spread, fmt="o", color="tab:blue", capsize=4, zorder=3)
    low, high = min(values.min(), (stats["mean"] - spread).min()), max(values.max(), (stats["mean"] + spread).max())
    pad = max(high - low, abs(high) * 0.01, 1e-3) * 0.15
    low, high = low - pad, high + pad
    if "acc" in metric:
        low, high = max(low, 0.0), min(high, 1.0)
    ax.set_xlim(low, high)
    ax.set_yticks(stats.index, stats["setting"])
    ax.set_ylim(len(stats) - 0.5, -0.5)
    numbers = ax.twinx()
    numbers.set_ylim(ax.get_ylim())
    numbers.set_yticks(stats.index, [_mean_text(row) for _, row in stats.iterrows()], fontsize=9)
    ax.set_xlabel(f"{metric} (mean ± std over seeds of the finished runs)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fixed = " ".join(f"{k}={v}" for k, v in constant.items()) or "none"
    left_out = f"; {(~done).sum()} unfinished runs left out" if (~done).any() else ""
    ax.set_title(textwrap.fill(f"same in every run: {fixed}{left_out}", 110), fontsize=9)
    return fig


def plot(df: pd.DataFrame, out_png: Path, metric: str = "test_acc") -> None:
    """:func:`figure` written to ``out_png``."""
    import matplotlib.pyplot as plt

    fig = figure(df, metric)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _mean_text(row: pd.Series) -> str:
    """``"0.9050 ± 0.0071 (n=2)"``; a single run shows its value and ``n=1``."""
    spread = "" if row["n"] < 2 else f" ± {row['std']:.4f}"
    return f"{row['mean']:.4f}{spread} (n={row['n']})"


def _blank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with empty cells instead of NaN/None (a single run has no std; a failed run no numbers)."""
    return table.astype(object).where(table.notna(), "")


def tables(df: pd.DataFrame, stats: pd.DataFrame) -> str:
    """The runs and the grouped means as markdown, with a note on the runs left out of the means."""
    text = [_blank(t).to_markdown(index=False, floatfmt=".4g") for t in (df[COLUMNS], stats)]
    unfinished = (df["status"] != FINISHED).sum()
    if unfinished:
        text.insert(1, f"{unfinished} of {len(df)} runs did not finish (see status): listed, left out of the means.")
    return "\n\n".join(text)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a multirun folder (multirun.yaml and job folders) or a run folder")
    parser.add_argument("--out", type=Path, help="output folder (default: root)")
    parser.add_argument("--metric", default="test_acc", help="summary.json key to aggregate and plot")
    args = parser.parse_args(argv)
    try:
        df = collect(args.root)
    except NotARunFolder as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    stats = group(df, args.metric)
    df.to_csv(out / "results.csv", index=False)
    stats.to_csv(out / "results_grouped.csv", index=False)
    text = tables(df, stats)
    (out / "results.md").write_text(text + "\n")
    if (stats["n"] > 0).any():
        plot(df, out / "results.png", args.metric)
    print(text)
    return df


if __name__ == "__main__":
    main()
