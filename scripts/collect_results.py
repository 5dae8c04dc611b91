"""Gather the ``summary.json`` files of a multirun into one table (CSV + markdown) and a bar plot.

python scripts/collect_results.py outputs/train/multiruns/<date>   # writes results.{csv,md,png} there
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import pandas as pd

COLUMNS = ["run", "overrides", "test_acc", "best_val_acc", "epochs", "params", "wall_time_s", "train_samples_per_s"]


def collect(root: Path) -> pd.DataFrame:
    """One row per ``summary.json`` under ``root``, sorted by run folder."""
    rows = []
    for path in sorted(root.rglob("summary.json")):
        summary = json.loads(path.read_text())
        rows.append(
            {
                "run": str(path.parent.relative_to(root)),
                "overrides": " ".join(summary.get("overrides", [])),
                **{k: summary.get(k) for k in COLUMNS[2:]},
            }
        )
    if not rows:
        raise FileNotFoundError(f"no summary.json under {root}")
    return pd.DataFrame(rows, columns=COLUMNS)


def plot(df: pd.DataFrame, out_png: Path) -> None:
    """Horizontal bars of test accuracy per run."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [o or r for o, r in zip(df["overrides"], df["run"])]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(df) + 1.2))
    ax.barh(labels, df["test_acc"].astype(float))
    ax.set_xlabel("test accuracy")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a multirun folder (searched recursively for summary.json)")
    parser.add_argument("--out", type=Path, help="output folder (default: root)")
    args = parser.parse_args(argv)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    df = collect(args.root)
    df.to_csv(out / "results.csv", index=False)
    (out / "results.md").write_text(df.to_markdown(index=False, floatfmt=".4g") + "\n")
    plot(df, out / "results.png")
    print(df.to_markdown(index=False, floatfmt=".4g"))
    return df


if __name__ == "__main__":
    main()
