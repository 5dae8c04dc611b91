"""Train a spiking network: ``python train.py [group=option ...] [key=value ...]`` (see README, Training)."""

from snnlab.cli import train

if __name__ == "__main__":
    train()
