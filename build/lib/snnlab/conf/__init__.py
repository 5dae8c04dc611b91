"""The configs shipped with snnlab (Hydra's ``pkg://snnlab.conf``): one folder per config group."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
