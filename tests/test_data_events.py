"""Event data: frame binning, tonic-backed data modules on tiny fake sets in the real formats, cache, splits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import (
    CIFAR10DVS_CLASSES,
    forbid_network,
    write_aedat4,
    write_cifar10dvs,
    write_dvsgesture,
    write_nmnist,
    write_nmnist_bin,
    write_shd,
)
from omegaconf import OmegaConf

from snnlab.conf import CONFIG_DIR
from snnlab.data import tonic_readers
from snnlab.data.event_frames import EventFrames
from snnlab.data.events import (
    CIFAR10DVSDataModule,
    DVSGestureDataModule,
    NMNISTDataModule,
    SHDDataModule,
    per_class_split,
)
from snnlab.data.temporal_crop import TemporalCrop
from snnlab.instantiate import instantiate

CONF = CONFIG_DIR / "data"
DVS = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)


def events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Structured DVS events from (x, y, t, p) rows."""
    out = np.zeros(len(rows), dtype=DVS)
    for name, col in zip(("x", "y", "t", "p"), np.array(rows, dtype=np.int64).reshape(-1, 4).T):
        out[name] = col
    return out


def reference_frames(ev: np.ndarray, T: int, sensor=(34, 34, 2)) -> torch.Tensor:
    """Per-event loop: equal bins over [t_min, t_max], the last timestamp in the last bin."""
    w, h, p = sensor
    out = torch.zeros(T, p, h, w)
    t0, t1 = int(ev["t"].min()), int(ev["t"].max())
    for e in ev:
        b = 0 if t1 == t0 else min(int((int(e["t"]) - t0) * T / (t1 - t0)), T - 1)
        out[b, int(e["p"] > 0), int(e["y"]), int(e["x"])] += 1
    return out


# ---------------------------------------------------------------- EventFrames


def test_frames_count_every_event_including_the_last_timestamp() -> None:
    rng = np.random.default_rng(1)
    ev = events([(rng.integers(34), rng.integers(34), t, t % 2) for t in [0, 5, 9, 9, 40, 99, 100, 100, 100]])
    frames = EventFrames((34, 34, 2), 4)(ev)
    assert frames.shape == (4, 2, 34, 34) and frames.dtype == torch.float32
    assert frames.sum() == len(ev)
    assert frames[-1].sum() == 3 + 1  # the three events at t_max (tonic's ToFrame drops them) and t=99
    assert torch.equal(frames, reference_frames(ev, 4))


@pytest.mark.parametrize("rows", [[], [(3, 4, 7, 1)], [(1, 1, 5, 0), (2, 2, 5, 1)]])
def test_frames_empty_and_single_timestamp_samples(rows) -> None:
    frames = EventFrames((34, 34, 2), 5, denoise_filter_time=1000)(events(rows)) if not rows else None
    if frames is not None:  # empty input, also through the denoise filter
        assert frames.shape == (5, 2, 34, 34) and frames.sum() == 0
    frames = EventFrames((34, 34, 2), 5)(events(rows))
    assert frames.shape == (5, 2, 34, 34) and frames.sum() == len(rows)
    assert frames[1:].sum() == 0  # a zero-length sample lands in the first bin


def test_frames_time_window_pads_and_truncates() -> None:
    ev = events([(0, 0, 100, 1), (0, 0, 1099, 1), (0, 0, 1100, 0), (0, 0, 5000, 1)])
    frames = EventFrames((34, 34, 2), 3, time_window=500)(ev)  # windows [100,600) [600,1100) [1100,1600)
    assert frames.shape == (3, 2, 34, 34)
    assert frames[:, :, 0, 0].tolist() == [[0, 1], [0, 1], [1, 0]]  # t=5000 is past 3 windows: dropped
    short = EventFrames((34, 34, 2), 6, time_window=500)(ev[:1])
    assert short.shape == (6, 2, 34, 34) and short[0].sum() == 1 and short[1:].sum() == 0


def test_frames_resize_keeps_counts_and_maps_coordinates() -> None:
    ev = events([(0, 0, 0, 1), (127, 127, 1, 0), (64, 32, 2, 1), (200, 5, 3, 1)])  # the last is off-sensor
    frames = EventFrames((128, 128, 2), 1, size=(48, 48))(ev)
    assert frames.shape == (1, 2, 48, 48) and frames.sum() == 3
    assert frames[0, 1, 0, 0] == 1 and frames[0, 0, 47, 47] == 1 and frames[0, 1, 12, 24] == 1


def test_frames_one_dimensional_sensor_pools_channels() -> None:
    shd = np.zeros(4, dtype=[("t", int), ("x", int), ("p", int)])
    shd["x"], shd["t"] = [0, 9, 10, 699], [0, 1, 2, 3]
    full = EventFrames((700, 1, 1), 2)(shd)
    assert full.shape == (2, 700) and full.sum() == 4 and full[1, 699] == 1
    pooled = EventFrames((700, 1, 1), 2, size=(70,))(shd)
    assert pooled.shape == (2, 70) and pooled[0, 0] == 2 and pooled[1, 1] == 1 and pooled[1, 69] == 1


def test_frames_denoise_drops_isolated_events() -> None:
    ev = events([(5, 5, 1000, 1), (6, 5, 1100, 1), (30, 30, 50_000, 1)])
    assert EventFrames((34, 34, 2), 2, denoise_filter_time=1000)(ev).sum() == 1


def test_frames_split_by_number_hand_count() -> None:
    # 10 events, T=3: frames of 10 // 3 = 3 events in time order, the last frame also takes the remainder
    rows = [(t, 0, 100 * t, t % 2) for t in range(10)]
    rows[2], rows[7] = rows[7], rows[2]  # not sorted in the file: frames follow the timestamps
    frames = EventFrames((34, 34, 2), 3, split_by="number")(events(rows))
    assert frames.sum((1, 2, 3)).tolist() == [3, 3, 4]
    assert frames[0, :, 0].nonzero().tolist() == [[0, 0], [0, 2], [1, 1]]  # (p, x) of the events at t=0, 100, 200
    assert frames[1, :, 0].nonzero().tolist() == [[0, 4], [1, 3], [1, 5]]
    assert frames[2, :, 0].nonzero().tolist() == [[0, 6], [0, 8], [1, 7], [1, 9]]


def test_frames_split_by_number_fewer_events_than_frames() -> None:
    frames = EventFrames((34, 34, 2), 5, split_by="number")(events([(1, 1, 0, 1), (2, 2, 9, 0)]))
    assert frames.sum((1, 2, 3)).tolist() == [0, 0, 0, 0, 2]  # spikingjelly: every event in the last frame
    assert EventFrames((34, 34, 2), 5, split_by="number")(events([])).sum() == 0


def test_frames_split_by_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="split_by='count': valid: time, number"):
        EventFrames((34, 34, 2), 2, split_by="count")
    with pytest.raises(ValueError, match=r"time_window=100.0: sets frame durations: it needs split_by=time"):
        EventFrames((34, 34, 2), 2, time_window=100.0, split_by="number")


# ---------------------------------------------------------------- data modules


def test_nmnist_module_frames_and_time_first_batches(tmp_path: Path) -> None:
    written = write_nmnist(tmp_path, per_class=2)
    dm = NMNISTDataModule(str(tmp_path), T=5, batch_size=4, val_fraction=0.25, cache=False)
    assert dm.input_shape == (2, 34, 34) and dm.num_classes == 10 and dm.time_first
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (15, 5, 20)
    frames, label = dm.test_set[7]  # sorted by path: digit 3, file 00001
    assert label == 3 and frames.dtype == torch.float32 and frames.shape == (5, 2, 34, 34)
    ev = written["Test"][7]
    structured = np.zeros(len(ev), dtype=DVS)
    for i, name in enumerate(("x", "y", "t", "p")):
        structured[name] = ev[:, i]
    assert torch.equal(frames, reference_frames(structured, 5))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (5, 4, 2, 34, 34) and x.dtype == torch.float32 and y.shape == (4,)


def test_val_split_is_seeded(tmp_path: Path) -> None:
    write_nmnist(tmp_path, per_class=2)
    splits = []
    for seed in (0, 0, 1):
        dm = NMNISTDataModule(str(tmp_path), T=2, val_fraction=0.25, seed=seed, cache=False)
        dm.setup()
        splits.append(list(dm.val_set.indices))
    assert splits[0] == splits[1] != splits[2]


def test_frame_cache_serves_second_epoch_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_nmnist(tmp_path, per_class=1)
    reads = []
    original = tonic_readers.NMNIST.__getitem__
    monkeypatch.setattr(tonic_readers.NMNIST, "__getitem__", lambda self, i: reads.append(i) or original(self, i))

    def epoch(T: int) -> tuple[list[torch.Tensor], str]:
        dm = NMNISTDataModule(str(tmp_path), T=T, batch_size=3, val_fraction=0.0)
        dm.setup()
        return [x for x, _ in dm.train_dataloader()], dm.train_set.dataset.dir

    first, cache = epoch(4)
    assert len(reads) == 10 and os.path.dirname(cache) == str(tmp_path / "cache")
    assert len([f for f in os.listdir(cache) if f.endswith(".npz")]) == 10
    second, _ = epoch(4)
    assert len(reads) == 10  # nothing re-read
    assert sum(x.sum() for x in first) == sum(x.sum() for x in second) == 10 * 50
    third, other = epoch(6)  # another T: another cache folder, fresh frames
    assert len(reads) == 20 and other != cache and third[0].shape[0] == 6


def test_dvsgesture_module(tmp_path: Path) -> None:
    write_dvsgesture(tmp_path, users=1, n_events=80)
    dm = DVSGestureDataModule(str(tmp_path), T=3, batch_size=2, size=32, val_fraction=0.0, cache=False)
    assert dm.input_shape == (2, 32, 32) and dm.num_classes == 11
    dm.setup()
    assert len(dm.train_set) == len(dm.test_set) == 11
    frames, label = dm.test_set[4]
    assert frames.shape == (3, 2, 32, 32) and frames.dtype == torch.float32 and frames.sum() == 80
    assert label == dm.test_set.targets[4] and dm.test_set.users[4] == 1
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (3, 2, 2, 32, 32) and y.shape == (2,)


def test_cifar10dvs_module_reads_aedat4_and_splits_9_to_1(tmp_path: Path) -> None:
    write_cifar10dvs(tmp_path, per_class=20, n_events=60)
    dm = CIFAR10DVSDataModule(str(tmp_path), T=4, size=48, batch_size=5, val_fraction=0.0, cache=False)
    assert dm.input_shape == (2, 48, 48)
    dm.setup()
    full = dm.test_set.dataset
    train_idx, test_idx = dm.train_set.dataset.indices, dm.test_set.indices
    assert len(train_idx) == 180 and len(test_idx) == 20 and not set(train_idx) & set(test_idx)
    for c, name in enumerate(CIFAR10DVS_CLASSES):
        assert sum(full.targets[i] == c for i in train_idx) == 18
        test_files = [os.path.basename(full.data[i]) for i in test_idx if full.targets[i] == c]
        assert test_files == [f"cifar10_{name}_18.aedat4", f"cifar10_{name}_19.aedat4"]  # natural path order
    frames, _ = dm.test_set[0]
    assert frames.shape == (4, 2, 48, 48) and frames.dtype == torch.float32 and frames.sum() == 60
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 5, 2, 48, 48)
    other = CIFAR10DVSDataModule(str(tmp_path), T=4, seed=123, val_fraction=0.0, cache=False)
    other.setup()
    assert other.test_set.indices == test_idx  # the split ignores the seed


def test_per_class_split_rounds_per_class() -> None:
    train, test = per_class_split([0] * 20 + [1] * 10 + [2] * 1, 0.1)
    assert test == [18, 19, 29] and train == [*range(18), *range(20, 29), 30]


def test_shd_module(tmp_path: Path) -> None:
    write_shd(tmp_path, n_train=20, n_test=10, n_spikes=100)
    dm = SHDDataModule(str(tmp_path), T=8, batch_size=4, val_fraction=0.25, cache=False)
    assert dm.input_shape == (700,) and dm.num_classes == 20
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (15, 5, 10)
    frames, label = dm.test_set[3]
    assert frames.shape == (8, 700) and frames.dtype == torch.float32 and frames.sum() == 100 and label == 3
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 4, 700) and y.dtype == torch.int64
    pooled = SHDDataModule(str(tmp_path), T=8, channels=70, cache=False)
    pooled.setup()
    assert pooled.input_shape == (70,) and pooled.test_set[3][0].shape == (8, 70)


def test_empty_samples_give_zero_frames(tmp_path: Path) -> None:
    write_nmnist(tmp_path, per_class=1)
    write_nmnist_bin(tmp_path / "NMNIST" / "Test" / "0" / "00000.bin", np.zeros((0, 4), dtype=np.int64))
    dm = NMNISTDataModule(str(tmp_path), T=4, cache=False)
    dm.setup()
    assert dm.test_set[0][0].shape == (4, 2, 34, 34) and dm.test_set[0][0].sum() == 0

    write_dvsgesture(tmp_path, users=1)
    np.save(tmp_path / "DVSGesture" / "ibmGestureTest" / "user01_fluorescent" / "0.npy", np.zeros((0, 4), np.int64))
    dm = DVSGestureDataModule(str(tmp_path), T=4, cache=False, denoise_filter_time=1000)
    dm.setup()
    empty = next(i for i, p in enumerate(dm.test_set.data) if p.endswith("/0.npy"))
    assert dm.test_set[empty][0].shape == (4, 2, 128, 128) and dm.test_set[empty][0].sum() == 0

    write_cifar10dvs(tmp_path, per_class=10)
    write_aedat4(tmp_path / "CIFAR10DVS" / "airplane" / "cifar10_airplane_0.aedat4", np.zeros((0, 4), np.int64))
    dm = CIFAR10DVSDataModule(str(tmp_path), T=4, cache=False)
    dm.setup()
    assert dm.train_set.dataset[0][0].shape == (4, 2, 128, 128) and dm.train_set.dataset[0][0].sum() == 0


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (NMNISTDataModule, "NMNIST/Train/*/*.bin"),
        (DVSGestureDataModule, "DVSGesture/ibmGestureTrain/*/*.npy"),
        (CIFAR10DVSDataModule, "CIFAR10DVS/*/*.aedat4"),
        (SHDDataModule, "SHD/shd_train.h5"),
    ],
)
def test_missing_files_raise_with_layout(tmp_path: Path, module, expected: str) -> None:
    dm = module(str(tmp_path), T=4)
    with pytest.raises(FileNotFoundError, match="download=true") as err:
        dm.setup()
    assert os.path.join(str(tmp_path), expected) in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing created, nothing downloaded


def test_data_dir_defaults_to_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNLAB_DATA_DIR", str(tmp_path))
    write_shd(tmp_path, n_train=4, n_test=2)
    dm = SHDDataModule(T=2)
    dm.setup()
    assert dm.data_dir == str(tmp_path) and len(dm.test_set) == 2
    assert (tmp_path / "cache").is_dir()


@pytest.mark.parametrize(
    ("name", "shape"),
    [("nmnist", (2, 34, 34)), ("dvsgesture", (2, 128, 128)), ("cifar10dvs", (2, 48, 48)), ("shd", (700,))],
)
def test_configs_instantiate(tmp_path: Path, name: str, shape: tuple[int, ...]) -> None:
    data = OmegaConf.load(CONF / f"{name}.yaml")
    cfg = OmegaConf.merge({"paths": {"data_dir": str(tmp_path)}, "T": 7}, {"data": data})
    dm = instantiate(cfg.data, kind="data")
    assert dm.data_dir == str(tmp_path) and dm.T == 7 and dm.time_first and not dm.download
    assert dm.input_shape == shape
    if "size" in data:  # Hydra passes lists as ListConfig
        assert instantiate(cfg.data, kind="data", size=OmegaConf.create([24, 32])).input_shape == (2, 24, 32)


def test_download_flag_reaches_tonic(tmp_path: Path) -> None:
    NMNISTDataModule(str(tmp_path), T=4).prepare_data()  # download=False: does nothing
    with pytest.raises(AssertionError, match="network access attempted"):
        NMNISTDataModule(str(tmp_path), T=4, download=True).prepare_data()


@pytest.mark.parametrize(
    ("module", "kwargs", "shape"),
    [
        (NMNISTDataModule, {}, (2, 34, 34)),
        (DVSGestureDataModule, {"size": 32}, (2, 32, 32)),
        (CIFAR10DVSDataModule, {"size": [24, 16]}, (2, 24, 16)),
        (SHDDataModule, {"channels": 70}, (70,)),
    ],
)
def test_sample_shape_from_the_class_matches_the_module(tmp_path: Path, module, kwargs, shape) -> None:
    assert module.sample_shape(**kwargs, T=3, batch_size=2) == shape  # other config keys are ignored
    assert module(str(tmp_path), T=3, **kwargs).input_shape == shape


def test_module_frames_split_by_number(tmp_path: Path) -> None:
    written = write_nmnist(tmp_path, per_class=1, n_events=50)
    dm = NMNISTDataModule(str(tmp_path), T=4, split_by="number", cache=False)
    dm.setup()
    frames, _ = dm.test_set[0]
    assert frames.sum((1, 2, 3)).tolist() == [12, 12, 12, 14]
    assert frames.sum() == len(written["Test"][0])


# ---------------------------------------------------------------- temporal crop (SEW's T_train)


def test_temporal_crop_keeps_ordered_random_frames_shared_by_the_batch() -> None:
    T, frames = 6, 4
    crop = TemporalCrop(frames, T)
    # sample b, step t holds 10·b + t: the kept values tell which steps were kept
    samples = [(torch.arange(T, dtype=torch.float32).view(T, 1) + 10 * b, b) for b in range(3)]
    torch.manual_seed(0)
    seen: set[tuple[int, ...]] = set()
    for _ in range(200):
        x, y = crop(samples)
        assert x.shape == (frames, 3, 1) and y.tolist() == [0, 1, 2]
        steps = x[:, 0, 0].long().tolist()
        assert steps == sorted(set(steps)) and all(0 <= s < T for s in steps)  # distinct, in time order
        assert torch.equal(x[:, :, 0], torch.tensor(steps).view(-1, 1) + 10 * torch.arange(3).float())  # same steps
        seen.add(tuple(steps))
    assert len(seen) == 15  # C(6, 4): every subset is drawn


@pytest.mark.parametrize("bad", [0, 7, 2.5, True])
def test_temporal_crop_checks_its_length(bad) -> None:
    with pytest.raises(ValueError, match=rf"T_train={bad!r}: must be an integer in \[1, T=6\]"):
        TemporalCrop(bad, 6)


def test_event_module_crops_training_batches_only(tmp_path: Path) -> None:
    write_nmnist(tmp_path, per_class=2)
    dm = NMNISTDataModule(str(tmp_path), T=5, T_train=3, batch_size=4, val_fraction=0.25, cache=False)
    dm.setup()
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (3, 4, 2, 34, 34)
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        assert next(iter(loader))[0].shape == (5, 4, 2, 34, 34)


def test_event_module_augment_shifts_and_flips_training_frames_only(tmp_path: Path) -> None:
    write_nmnist(tmp_path, per_class=2, n_events=200)
    plain = NMNISTDataModule(str(tmp_path), T=3, val_fraction=0.25, cache=False)
    augmented = NMNISTDataModule(str(tmp_path), T=3, val_fraction=0.25, cache=False, augment="crop_flip")
    plain.setup()
    augmented.setup()
    torch.manual_seed(0)
    moved = 0
    for i in range(len(plain.train_set)):
        frames, label = plain.train_set[i]
        # every crop of the zero-padded frames, flipped or not: what augmentation may return (by hand, not torchvision)
        padded = torch.nn.functional.pad(frames, (4, 4, 4, 4))
        crops = [padded[..., y : y + 34, x : x + 34] for y in range(9) for x in range(9)]
        candidates = crops + [c.flip(-1) for c in crops]
        out, out_label = augmented.train_set[i]
        assert out_label == label and out.shape == frames.shape
        assert any(torch.equal(out, c) for c in candidates)
        moved += not torch.equal(out, frames)
    assert moved >= len(plain.train_set) - 2  # 1 in 162 draws is the identity
    for a, b in ((augmented.val_set, plain.val_set), (augmented.test_set, plain.test_set)):
        assert torch.equal(a[0][0], b[0][0])
    with pytest.raises(ValueError, match="augment='crop_flip': transforms 2-D frames; SHDDataModule has 1-D samples"):
        SHDDataModule(str(tmp_path), augment="crop_flip")
