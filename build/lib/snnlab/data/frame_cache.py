"""On-disk cache of preprocessed samples (event frames), keyed on every preprocessing parameter.

tonic's ``DiskCachedDataset`` keys files on the sample index only, so changing ``T`` or the frame
size silently serves stale frames. ``FrameCache`` puts a hash of the full ``key`` (dataset, split
and all transform parameters) into the cache directory name and writes ``key.json`` beside the
files, so each parameter set gets its own directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


def cache_dir_for(root: str, key: dict[str, Any]) -> str:
    """``root/<name>-<hash of key>``, where ``name`` is ``key['dataset']``."""
    blob = json.dumps(key, sort_keys=True, default=str)
    return os.path.join(root, f"{key.get('dataset', 'data')}-{hashlib.sha1(blob.encode()).hexdigest()[:12]}")


class FrameCache(Dataset):
    """Serve ``dataset[i]`` = ``(frames, target)`` from ``<dir>/<i>.npz``, computing it on first use.

    Writes are atomic (temporary file + rename), so parallel loader workers never read partial files.
    """

    def __init__(self, dataset: Dataset, root: str, key: dict[str, Any]) -> None:
        self.dataset = dataset
        self.dir = cache_dir_for(root, key)
        os.makedirs(self.dir, exist_ok=True)
        key_file = os.path.join(self.dir, "key.json")
        if not os.path.exists(key_file):
            tmp = f"{key_file}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(key, f, indent=2, sort_keys=True, default=str)
            os.replace(tmp, key_file)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = os.path.join(self.dir, f"{index}.npz")
        if os.path.exists(path):
            with np.load(path) as f:
                return torch.from_numpy(f["frames"]), int(f["target"])
        frames, target = self.dataset[index]
        frames = torch.as_tensor(frames)
        tmp = os.path.join(self.dir, f".{index}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, frames=frames.numpy(), target=np.int64(target))
        os.replace(tmp, path)
        return frames, int(target)
