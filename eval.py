"""Test a finished run: ``python eval.py outputs/train/runs/<run> [--ckpt best|last|PATH]``."""

from snnlab.cli import evaluate

if __name__ == "__main__":
    evaluate()
