"""Test a finished run: ``python eval.py outputs/train/runs/<run> [--ckpt best|last|PATH]``."""

from snnlab.cli import eval_command

if __name__ == "__main__":
    eval_command()
