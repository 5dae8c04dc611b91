"""Each model family learns: a short training run per registered family on the embedded MNIST-5k digits.

Every family runs in its own process through the real entry point (``python train.py model=<family> ...``) with the
overrides in :data:`FAMILIES`: the width scaled down so that a run takes about a minute on two CPU cores, and the
digits resized (``data.resize``) and their grey channel replicated (``data.channels``) to the input the family was
made for (3 channels for the CIFAR nets, 2 for the event nets).  The test accuracy comes from each run's
``summary.json`` (the checkpoint with the best validation accuracy, scored on the 1000 held-out test digits).

A family made of swappable components has several entries, ``<family>:<variant>`` (``transformer:sps+ssa``), each
run as ``model=<family>`` with its own overrides; ``--families transformer`` runs all of them.

    python scripts/check_families.py                          # every entry, 2 epochs, table + families.json
    python scripts/check_families.py --families cnn vgg --json out.json -- T=2   # after --: overrides for every run
    python scripts/check_families.py --families transformer   # the transformer entries (one per stem/mixer)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snnlab import models, registry  # noqa: E402,F401  (importing models registers the families)

COMMON = [
    "data=mnist5k",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "callbacks.progress=null",
    "callbacks.model_summary=null",
    "callbacks.energy=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]
"""Overrides of every run."""

CIFAR = ["data.resize=[32,32]", "data.channels=3"]
FAMILIES: dict[str, list[str]] = {
    "cnn": [],
    "mlp": ["model.hidden=[256]"],
    "vgg": ["model.depth=9", "model.width_mult=0.25", "model.hidden=128", *CIFAR],
    "resnet19": ["model.width_mult=0.125", "trainer.max_epochs=3", "data.channels=3"],
    "bntt_vgg": ["model.depth=9", "model.width_mult=0.125", *CIFAR],
    "vggsnn": ["model.width_mult=0.125", "data.resize=[48,48]", "data.channels=2"],
    "cifarnet": ["model.width_mult=0.125", *CIFAR],
    "plif_net": ["model.width_mult=0.25", "neuron=plif"],
    "sew_resnet": ["model.depth=18", "model.width_mult=0.25", *CIFAR],
    "sew_dvs": [
        "model.channels=[16,32,32,32]",
        "neuron=plif",
        "trainer.max_epochs=3",
        "data.resize=[32,32]",
        "data.channels=2",
    ],
    "ottt_vgg": ["model.width_mult=0.125", "learning=ottt", "neuron=ottt_lif", "norm=none", "data.normalize=standard"],
}
"""Per-family overrides: a scaled-down net on digits shaped like the family's input."""

TRANSFORMER = ["model.dim=64", "model.heads=4", "T=2"]
"""Spiking transformers of width 64 (4 heads) at T=2, on the 28×28 digits."""
SPS = [*TRANSFORMER, "model.depths=[1]", "model.stem.pools_at=[true,true,false,false]", "trainer.max_epochs=3"]
"""One block on 7×7 tokens (the pools at the first two conv stages, so that the wider ones run on 7×7 maps)."""
QKFORMER = [
    *TRANSFORMER,
    "model/stem=qkformer",
    "model.stem.stages=2",
    "model.stem.init_pools=[true,false]",
    "model.depths=[1,1]",
    "model.early_token_mixer={_target_: qk_token}",
    "trainer.max_epochs=4",
]
"""Two stages (14×14 tokens of width 32 with Q-K token attention, then 7×7 of width 64 with SSA), a block each."""
FAMILIES |= {
    "transformer:sps+ssa": [*SPS],
    "transformer:sps+random_qk": [*SPS, "model/token_mixer=random_qk"],
    "transformer:sps+qk_token": [*SPS, "model/token_mixer=qk_token"],
    "transformer:sps+sdsa": [*SPS, "model/token_mixer=sdsa"],
    "transformer:sdt_sps+sdsa": [
        *SPS,
        "model/stem=sdt_sps",
        "model/token_mixer=sdsa",
        "model.residual=membrane",
        "model.head_neuron=true",
    ],
    "transformer:qkformer+qk_token+ssa": [*QKFORMER],
}
"""Transformer entries: each stem and token mixer, the spike and the membrane residual."""


def family_of(entry: str) -> str:
    """The registered model family of an entry (``transformer:sps+ssa`` → ``transformer``)."""
    return entry.split(":", 1)[0]


def entries(names: list[str]) -> list[str]:
    """The entries that ``names`` select: an entry by its name, a family by all of its entries (itself when it has
    none); an unknown name raises ``ValueError`` naming the valid ones."""
    families = registry.names("model")
    out: list[str] = []
    for name in names:
        own = [e for e in FAMILIES if family_of(e) == name and e != name]
        if name in families and own:
            out += own
        elif name in families or (name in FAMILIES and family_of(name) in families):
            out.append(name)
        else:
            valid = sorted(set(families) | set(FAMILIES))
            raise ValueError(f"unknown families or entries {name!r}; valid: {', '.join(valid)}")
    return list(dict.fromkeys(out))


def run_family(family: str, out_dir: Path, extra: list[str], timeout: float) -> dict[str, object]:
    """Train the entry ``family`` in a fresh process; its row: test accuracy, params, wall time, or the error."""
    folder = re.sub(r"[^\w.-]", "_", family)
    run_dir = out_dir / folder
    overrides = [f"model={family_of(family)}", *COMMON, *FAMILIES.get(family, []), *extra]
    cmd = [sys.executable, "train.py", *overrides, f"hydra.run.dir={run_dir}", f"task_name=families_{folder}"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        error = proc.stderr.strip().splitlines()[-1:] if proc.returncode else []
    except subprocess.TimeoutExpired:
        error = [f"timed out after {timeout:.0f} s"]
    row: dict[str, object] = {"family": family, "overrides": overrides, "wall_s": round(time.perf_counter() - start)}
    summary = run_dir / "summary.json"
    if error or not summary.is_file():
        return row | {"error": error[0] if error else "no summary.json"}
    info = json.loads(summary.read_text())
    return row | {k: info.get(k) for k in ("test_acc", "best_val_acc", "epochs", "params", "train_samples_per_s")}


def table(rows: list[dict[str, object]]) -> str:
    """A markdown table of the rows."""
    lines = ["| family | test acc | best val acc | params | wall (s) | overrides |", "|---|---|---|---|---|---|"]
    for r in rows:
        fam = str(r["family"])
        acc = f"{r['test_acc']:.3f}" if isinstance(r.get("test_acc"), float) else f"error: {r.get('error')}"
        val = f"{r['best_val_acc']:.3f}" if isinstance(r.get("best_val_acc"), float) else ""
        params = f"{r['params']:,}" if isinstance(r.get("params"), int) else ""
        extra = " ".join(FAMILIES.get(fam, []))
        lines.append(f"| `{fam}` | {acc} | {val} | {params} | {r['wall_s']} | {f'`{extra}`' if extra else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--families", nargs="+", default=registry.names("model"), help="families or entries to run (default: all)"
    )
    parser.add_argument("--json", type=Path, default=Path("families.json"), help="where to write the rows")
    parser.add_argument("--out", type=Path, default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per family before it counts as failed")
    parser.add_argument("--min-acc", type=float, default=0.9, help="exit 1 if a family's test accuracy is lower")
    parser.add_argument("overrides", nargs="*", help="after --: overrides for every run")
    args = parser.parse_args(argv)
    try:
        selected = entries(args.families)
    except ValueError as e:
        parser.error(str(e))
    with tempfile.TemporaryDirectory(prefix="snnlab_families_") as tmp:
        out_dir = args.out or Path(tmp)
        rows = []
        for family in selected:
            rows.append(run_family(family, out_dir, args.overrides, args.timeout))
            r = rows[-1]
            print(f"{family}: test_acc={r.get('test_acc', r.get('error'))} ({r['wall_s']} s)", flush=True)
    print(table(rows))
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    low = [r["family"] for r in rows if not isinstance(r.get("test_acc"), float) or r["test_acc"] < args.min_acc]
    if low:
        print(f"below {args.min_acc}: {', '.join(map(str, low))}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
