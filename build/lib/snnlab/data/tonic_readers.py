"""tonic dataset readers that only read files already on disk.

tonic's classes download whenever their check fails, and the check also wants the downloaded
archive (``train.zip``, ``shd_train.h5.zip``, ...) next to the extracted files. snnlab checks the
extracted files itself (``require_files``) and reads them through these subclasses, which trust
that check and refuse to download. Samples are sorted by file path in natural order (``_9`` before
``_10``), since tonic lists some folders in file-system order, which differs between machines.

The classes keep tonic's names because tonic reads from ``<save_to>/<class name>/``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import tonic.datasets as td


def natural_key(path: str) -> list[Any]:
    """Sort key that orders the digit runs of ``path`` by value."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


class _Offline:
    """Mixin: no archive check, no download."""

    def _check_exists(self) -> bool:
        return True

    def download(self) -> None:
        raise FileNotFoundError(f"{type(self).__name__}: files are missing and downloading is disabled")


class _Local(_Offline):
    """Mixin: as ``_Offline``, with samples in natural path order."""

    data: list[str]
    targets: list[Any]
    _per_sample: tuple[str, ...] = ("data", "targets")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        order = sorted(range(len(self.data)), key=lambda i: natural_key(self.data[i]))
        for name in self._per_sample:
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in order])


class NMNIST(_Local, td.NMNIST):
    """N-MNIST read from ``<save_to>/NMNIST/{Train,Test}/<digit>/*.bin``."""


class DVSGesture(_Local, td.DVSGesture):
    """DVS Gesture read from ``<save_to>/DVSGesture/ibmGesture{Train,Test}/user*_*/<label>.npy``."""

    _per_sample = ("data", "targets", "users", "lighting")


class CIFAR10DVS(_Local, td.CIFAR10DVS):
    """CIFAR10-DVS read from ``<save_to>/CIFAR10DVS/<class name>/*.aedat4`` (needs the ``aedat`` package).

    Unlike tonic's reader, a file whose event stream holds no packet gives an empty sample.
    """

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        events, target = read_aedat4_events(self.data[index]), self.targets[index]
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        if self.transforms is not None:
            events, target = self.transforms(events, target)
        return events, target


def read_aedat4_events(path: str) -> np.ndarray:
    """The first event stream of an AEDAT4 file as a ``(t, x, y, p)`` structured array."""
    import aedat

    decoder = aedat.Decoder(path)
    ids = [i for i, stream in decoder.id_to_stream().items() if stream["type"] == "events"]
    if not ids:
        raise ValueError(f"{path}: no event stream in this AEDAT4 file")
    packets = [p["events"] for p in decoder if p["stream_id"] == min(ids)]
    if not packets:
        return np.zeros(0, dtype=td.CIFAR10DVS.dtype)
    events = np.concatenate(packets)
    events.dtype.names = td.CIFAR10DVS.dtype.names
    return events


class SHD(_Offline, td.SHD):
    """SHD read from ``<save_to>/SHD/shd_{train,test}.h5`` (samples live in one file: nothing to sort)."""
