"""Events → fixed-length frame tensors.

tonic's ``ToFrame`` returns int16, drops the events that carry the last timestamp when slicing by
``n_time_bins`` and fails on empty samples; a variable number of frames (``time_window``) also does
not batch. ``EventFrames`` bins events itself with one ``np.bincount``: every event inside the
sensor lands in exactly one bin, an empty sample gives zeros, and the output is always
``[T, *frame_shape]`` float32 counts.  Frames split the sample by time (equal durations) or, as
spikingjelly's ``split_by='number'`` that the PLIF, SEW and TEBN papers use, by event count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tonic.functional import denoise_numpy

from snnlab.validate import InvalidArgument, one_of, positive, positive_int, positive_ints

SPLIT_BY = ("time", "number")


@dataclass(frozen=True)
class EventFrames:
    """Bin a tonic structured event array into ``T`` count frames.

    Args:
        sensor_size: tonic's ``(W, H, P)``; ``(N, 1, 1)`` is a 1-D sensor (e.g. SHD's 700 channels).
        n_time_bins: ``T``, the number of frames returned.
        time_window: frame length in µs; ``None`` splits ``[t_min, t_max]`` into ``T`` equal bins
            (the last timestamp belongs to the last bin). With a window, frames start at ``t_min`` and
            events after ``T`` windows are dropped; a shorter sample is padded with empty frames.
        split_by: ``"time"`` (as above) or ``"number"``: in time order, each frame takes ``N // T`` of the
            sample's ``N`` events and the last frame also the remainder (all of them when ``N < T``).
        size: output ``(H, W)`` (2-D sensors) or ``(N,)`` channels (1-D sensors), or one int for all
            dimensions; events are mapped to the coarser grid by integer scaling, so counts are preserved.
            ``None`` keeps the sensor size.
        denoise_filter_time: drop events with no neighbour event within this many µs (tonic's Denoise).
    """

    sensor_size: tuple[int, int, int]
    n_time_bins: int
    time_window: float | None = None
    size: int | Sequence[int] | None = None  # stored as a tuple
    denoise_filter_time: float | None = None
    split_by: str = "time"

    def __post_init__(self) -> None:
        one_of(self.split_by, SPLIT_BY, "split_by", "EventFrames")
        positive_int(self.n_time_bins, "n_time_bins", "EventFrames")
        if self.time_window is not None:
            positive(self.time_window, "time_window", "EventFrames")
            if self.split_by == "number":
                raise InvalidArgument("time_window", self.time_window, "sets frame durations: it needs split_by=time")
        if self.denoise_filter_time is not None:
            positive(self.denoise_filter_time, "denoise_filter_time", "EventFrames")
        dims = 1 if self.is_1d else 2
        if self.size is not None:
            if isinstance(self.size, int) and not isinstance(self.size, bool):
                size = (positive_int(self.size, "size", "EventFrames"),) * dims
            else:
                size = tuple(positive_ints(self.size, "size", "EventFrames"))
            if len(size) != dims:
                expected = f"must be one integer or {dims} integers >= 1 for sensor {self.sensor_size}"
                raise InvalidArgument("size", self.size, expected, "EventFrames")
            object.__setattr__(self, "size", size)

    @property
    def is_1d(self) -> bool:
        return self.sensor_size[1] == 1 and self.sensor_size[2] == 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: ``(N,)`` for 1-D sensors, else ``(P, H, W)``."""
        w, h, p = self.sensor_size
        if self.is_1d:
            return (self.size[0] if self.size else w,)
        oh, ow = self.size or (h, w)
        return (p, oh, ow)

    def __call__(self, events: np.ndarray) -> torch.Tensor:
        names = events.dtype.names or ()
        if self.denoise_filter_time and len(events) and "y" in names:
            events = denoise_numpy(events, filter_time=self.denoise_filter_time)
        w, h, p = self.sensor_size
        shape = self.frame_shape
        n_pix = int(np.prod(shape))
        x = events["x"].astype(np.int64)
        y = events["y"].astype(np.int64) if "y" in names else np.zeros_like(x)
        keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        if self.is_1d:
            pixel = x * shape[0] // w
        else:
            pol = (events["p"] > 0).astype(np.int64) if p > 1 else np.zeros_like(x)
            _, oh, ow = shape
            pixel = (pol * oh + y * oh // h) * ow + x * ow // w
        bins = self._time_bins(events["t"].astype(np.int64))
        keep &= bins < self.n_time_bins
        counts = np.bincount(bins[keep] * n_pix + pixel[keep], minlength=self.n_time_bins * n_pix)
        return torch.from_numpy(counts.astype(np.float32).reshape(self.n_time_bins, *shape))

    def _time_bins(self, t: np.ndarray) -> np.ndarray:
        if len(t) == 0:
            return t
        if self.split_by == "number":
            per_frame = len(t) // self.n_time_bins
            rank = np.empty(len(t), dtype=np.int64)
            rank[np.argsort(t, kind="stable")] = np.arange(len(t))
            last = self.n_time_bins - 1
            return np.minimum(rank // per_frame, last) if per_frame else np.full(len(t), last, dtype=np.int64)
        t = t - t.min()
        if self.time_window is not None:
            return (t // self.time_window).astype(np.int64)
        span = int(t.max())
        if span == 0:
            return np.zeros_like(t)
        return np.minimum(t * self.n_time_bins // span, self.n_time_bins - 1)
