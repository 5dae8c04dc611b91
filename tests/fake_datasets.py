"""Tiny data sets written in each library's real on-disk format, plus a no-network guard.

Only integrity checks (md5 of CIFAR batches) are patched in tests; every file is read by the
library's own reader.
"""

from __future__ import annotations

import pickle
import socket
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

# ---------------------------------------------------------------- guard


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every download helper and every socket connection raise."""
    import tonic.dataset
    import torchvision.datasets.cifar
    import torchvision.datasets.mnist

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive", refuse)
    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", refuse)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def skip_cifar_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision checks the md5 of every CIFAR file: accept any existing file instead."""
    import torchvision.datasets.cifar

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())


# ---------------------------------------------------------------- torchvision


def _idx(path: Path, array: np.ndarray) -> None:
    """Write an uint8 IDX file (big-endian header: magic 0x0000080<ndim>, then the dimensions)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, name: str = "MNIST", n_train: int = 20, n_test: int = 10, seed: int = 0) -> None:
    """``<root>/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed)."""
    rng = np.random.default_rng(seed)
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)


def write_cifar(root: Path, classes: int = 10, n_per_file: int = 8, seed: int = 0) -> None:
    """CIFAR-10 (``cifar-10-batches-py``) or CIFAR-100 (``cifar-100-python``) python pickles."""
    rng = np.random.default_rng(seed)

    def batch(n: int) -> dict:
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        labels = [i % classes for i in range(n)]
        return {"data": data, "labels": labels} if classes == 10 else {"data": data, "fine_labels": labels}

    if classes == 10:
        folder = root / "cifar-10-batches-py"
        files = {f"data_batch_{i}": batch(n_per_file) for i in range(1, 6)}
        files |= {"test_batch": batch(n_per_file), "batches.meta": {"label_names": [f"c{i}" for i in range(10)]}}
    else:
        folder = root / "cifar-100-python"
        files = {"train": batch(5 * n_per_file), "test": batch(n_per_file)}
        files["meta"] = {"fine_label_names": [f"c{i}" for i in range(100)]}
    folder.mkdir(parents=True)
    for name, content in files.items():
        with open(folder / name, "wb") as f:
            pickle.dump(content, f, protocol=2)


# ---------------------------------------------------------------- tonic


def random_events(rng: np.random.Generator, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    """``[n, 4]`` int64 rows (x, y, t, p), sorted by t."""
    ev = np.stack(
        [rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, t_max, n)), rng.integers(0, 2, n)],
        axis=1,
    )
    return ev.astype(np.int64)


def write_nmnist_bin(path: Path, ev: np.ndarray) -> None:
    """N-MNIST 40-bit records: x, y, then p in bit 7 and t in the 23 bits that follow (big-endian)."""
    x, y, t, p = (ev[:, i].astype(np.uint32) for i in range(4))
    rec = np.stack([x, y, (p << 7) | (t >> 16) & 127, (t >> 8) & 255, t & 255], axis=1).astype(np.uint8)
    path.write_bytes(rec.tobytes())


def write_nmnist(root: Path, per_class: int = 2, n_events: int = 50, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """``<root>/NMNIST/{Train,Test}/<digit>/<id>.bin``; returns the events per split in reader order."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {}
    for split in ("Train", "Test"):
        out[split] = []
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for k in range(per_class):
                ev = random_events(rng, n_events, 34, 34, 300_000)
                write_nmnist_bin(folder / f"{k:05d}.bin", ev)
                out[split].append(ev)
    return out


def write_dvsgesture(root: Path, users: int = 2, n_events: int = 80, seed: int = 0) -> None:
    """``<root>/DVSGesture/ibmGesture{Train,Test}/user<NN>_<lighting>/<label>.npy`` with (x, y, p, t[ms]) rows."""
    rng = np.random.default_rng(seed)
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        for u in range(1, users + 1):
            folder = root / "DVSGesture" / split / f"user{u:02d}_fluorescent"
            folder.mkdir(parents=True)
            for label in range(11):
                x, y, t, p = random_events(rng, n_events, 128, 128, 1500).T
                np.save(folder / f"{label}.npy", np.stack([x, y, p, t], axis=1))


CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _size_prefixed(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


def _aedat4_ioheader(width: int, height: int) -> bytes:
    """Flatbuffer ``Ioheader`` (id IOHE) with only ``description`` set: no compression, no data table."""
    desc = (
        '<dv version="2.0"><node name="outInfo"><node name="0">'
        '<attr key="typeIdentifier" type="string">EVTS</attr><node name="info">'
        f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
        "</node></node></node></dv>"
    ).encode()
    text = desc + b"\0" * (4 - len(desc) % 4)  # NUL terminator + padding
    # root offset, identifier | vtable: size 10, table size 8, slots (compression, data position, description)
    body = struct.pack("<I4s", 20, b"IOHE") + struct.pack("<5H", 10, 8, 0, 0, 4) + b"\0\0"
    # table: offset back to the vtable, offset to the string | string: length, bytes
    body += struct.pack("<iI", 12, 4) + struct.pack("<I", len(desc)) + text
    return _size_prefixed(body)


def _aedat4_event_packet(ev: np.ndarray) -> bytes:
    """Flatbuffer ``EventPacket`` (id EVTS): a vector of 16-byte structs (t: i64, x: i16, y: i16, on: bool)."""
    body = struct.pack("<I4s", 16, b"EVTS") + struct.pack("<3H", 6, 8, 4) + b"\0\0"
    body += struct.pack("<iI", 8, 12) + b"\0" * 8 + struct.pack("<I", len(ev))  # elements 8-byte aligned
    body += b"".join(struct.pack("<qhh?3x", t, x, y, bool(p)) for x, y, t, p in ev.tolist())
    return _size_prefixed(body)


def write_aedat4(path: Path, ev: np.ndarray, packets: int = 2, width: int = 128, height: int = 128) -> None:
    """An uncompressed AEDAT4 file with one event stream; ``ev`` rows (x, y, t, p) split over ``packets``."""
    with open(path, "wb") as f:
        f.write(b"#!AER-DAT4.0\r\n" + _aedat4_ioheader(width, height))
        for chunk in np.array_split(ev, packets) if len(ev) else []:
            packet = _aedat4_event_packet(chunk)
            f.write(struct.pack("<II", 0, len(packet)) + packet)


def write_cifar10dvs(root: Path, per_class: int = 10, n_events: int = 60, seed: int = 0) -> None:
    """``<root>/CIFAR10DVS/<class>/cifar10_<class>_<k>.aedat4``, read by tonic through ``aedat``."""
    rng = np.random.default_rng(seed)
    for name in CIFAR10DVS_CLASSES:
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(per_class):
            write_aedat4(folder / f"cifar10_{name}_{k}.aedat4", random_events(rng, n_events, 128, 128, 1_000_000))


def write_shd(root: Path, n_train: int = 40, n_test: int = 20, n_spikes: int = 100, seed: int = 0) -> None:
    """``<root>/SHD/shd_{train,test}.h5`` with ``spikes/times`` (s), ``spikes/units``, ``labels``, ``extra/*``."""
    rng = np.random.default_rng(seed)
    (root / "SHD").mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        with h5py.File(root / "SHD" / f"shd_{split}.h5", "w") as f:
            times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                times[i] = np.sort(rng.uniform(0, 0.9, n_spikes)).astype(np.float16)
                units[i] = rng.integers(0, 700, n_spikes).astype(np.uint16)
            f["labels"] = (np.arange(n) % 20).astype(np.uint16)
            f["extra/keys"] = np.array([f"word{i}".encode() for i in range(20)])
            f["extra/speaker"] = (np.arange(n) % 5).astype(np.uint16)


# ---------------------------------------------------------------- ImageFolder (ImageNet)


def write_imagefolder(
    root: Path,
    name: str = "imagenet",
    classes: int = 3,
    per_class: int = 2,
    size: tuple[int, int] = (40, 30),
    seed: int = 0,
) -> None:
    """``<root>/<name>/{train,val}/n<8 digits>/<k>.JPEG``: random RGB JPEGs of ``size`` (width, height)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / name / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for k in range(per_class):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{k}.JPEG", format="JPEG")
