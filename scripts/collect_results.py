"""Gather the ``summary.json`` files of a multirun into tables (CSV + markdown) and a plot of mean ± std over seeds.

python scripts/collect_results.py outputs/train/multiruns/<date>   # writes results{,_grouped}.csv, .md, .png there

Runs are grouped by their overrides other than ``seed``; the plot shows only the overrides that vary between
runs (the constant ones go in its title), each group's mean ± std (and every run as a dot) on a zoomed axis.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import matplotlib
import pandas as pd

COLUMNS = ["run", "overrides", "test_acc", "best_val_acc", "epochs", "params", "wall_time_s", "train_samples_per_s"]
SEED = "seed"


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``["model=mlp", "+trainer.x=1"]`` → ``{"model": "mlp", "trainer.x": "1"}`` (deletions ``~key`` are kept)."""
    pairs = (o.lstrip("+").split("=", 1) for o in overrides)
    return {p[0]: p[1] if len(p) == 2 else "" for p in pairs}


def collect(root: Path) -> pd.DataFrame:
    """One row per ``summary.json`` under ``root``, sorted by run folder, with a column per override key."""
    rows = []
    for path in sorted(root.rglob("summary.json")):
        summary = json.loads(path.read_text())
        overrides = summary.get("overrides", [])
        rows.append(
            {
                "run": str(path.parent.relative_to(root)),
                "overrides": " ".join(overrides),
                **{k: summary.get(k) for k in COLUMNS[2:]},
                **{f"override:{k}": v for k, v in parse_overrides(overrides).items()},
            }
        )
    if not rows:
        raise FileNotFoundError(f"no summary.json under {root}")
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
    """Mean, std (ddof 1; 0 for a single run) and count ``n`` of ``metric`` per setting, in run order."""
    runs = pd.DataFrame({"setting": settings(df), "value": pd.to_numeric(df[metric], errors="coerce")})
    stats = runs.groupby("setting", sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return stats.assign(std=stats["std"].fillna(0.0)).rename(columns={"count": "n"})


def plot(df: pd.DataFrame, out_png: Path, metric: str = "test_acc") -> None:
    """Mean ± std of ``metric`` per setting (grey dots: single runs) on an axis zoomed to the data."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = group(df, metric)
    _, constant = split_overrides(df)
    values = pd.to_numeric(df[metric], errors="coerce")
    row_of = {setting: i for i, setting in enumerate(stats["setting"])}
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(stats) + 1.8))
    ax.scatter(values, settings(df).map(row_of), color="0.6", s=14, zorder=2, label="single run")
    ax.errorbar(stats["mean"], stats.index, xerr=stats["std"], fmt="o", color="tab:blue", capsize=4, zorder=3)
    for i, row in stats.iterrows():
        ax.annotate(
            f"{row['mean']:.4f} ± {row['std']:.4f} (n={row['n']})",
            (row["mean"] + row["std"], i),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=9,
        )
    low = min(values.min(), (stats["mean"] - stats["std"]).min())
    high = max(values.max(), (stats["mean"] + stats["std"]).max())
    pad = max(high - low, abs(high) * 0.01, 1e-3)
    ax.set_xlim(low - 0.15 * pad, high + 0.6 * pad)  # room on the right for the labels
    ax.set_yticks(stats.index, stats["setting"])
    ax.set_ylim(len(stats) - 0.5, -0.5)
    ax.set_xlabel(f"{metric} (mean ± std over seeds)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fixed = " ".join(f"{k}={v}" for k, v in constant.items()) or "none"
    ax.set_title(textwrap.fill(f"same in every run: {fixed}", 100), fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a multirun folder (searched recursively for summary.json)")
    parser.add_argument("--out", type=Path, help="output folder (default: root)")
    parser.add_argument("--metric", default="test_acc", help="summary.json key to aggregate and plot")
    args = parser.parse_args(argv)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    df = collect(args.root)
    stats = group(df, args.metric)
    df.to_csv(out / "results.csv", index=False)
    stats.to_csv(out / "results_grouped.csv", index=False)
    tables = [df[COLUMNS].to_markdown(index=False, floatfmt=".4g"), stats.to_markdown(index=False, floatfmt=".4g")]
    (out / "results.md").write_text("\n\n".join(tables) + "\n")
    plot(df, out / "results.png", args.metric)
    print("\n\n".join(tables))
    return df


if __name__ == "__main__":
    main()
