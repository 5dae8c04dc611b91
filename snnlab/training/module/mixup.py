"""Mixup and CutMix (``mixup`` component, config ``augment.mixup``): timm's :class:`timm.data.Mixup` on training
batches, static ``[B, ...]`` or time-first ``[T, B, ...]``, with soft targets ``[B, classes]`` for the losses.

* Pairing: as timm, sample ``i`` is mixed with sample ``B-1-i`` (the batch flipped).  A time-first batch is mixed
  as a whole per sample: every frame of a sample gets the same partner, the same ``λ`` and the same CutMix box
  (its frames are stacked into channels before timm sees the batch).
* Odd batches (a last batch): timm needs an even batch, so the first ``B-1`` samples are mixed (``i`` with
  ``B-2-i``) and the last one keeps its input and its (smoothed) one-hot target.
* Label smoothing lives in the soft targets, ``(1-ε)·one-hot + ε/classes`` mixed as the inputs are, also when
  mixing is off or switched off by ``off_epoch`` (as timm, where smoothing outlives ``--mixup-off-epoch``).
* Training accuracy under mixing is taken against the label with the larger weight in each soft target
  (:func:`hard_labels`; a tie, ``λ = 0.5`` exactly, counts the lower class index).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import torch
from timm.data import Mixup
from timm.data.mixup import mixup_target

from snnlab import registry, validate
from snnlab.validate import InvalidArgument

MODES = ("batch", "pair", "elem")
NAME = "mixup"


def hard_labels(targets: torch.Tensor) -> torch.Tensor:
    """Integer labels ``[B]``: the labels themselves, or the class of largest weight of soft targets ``[B, K]``."""
    return targets.argmax(-1) if targets.is_floating_point() else targets


def _minmax(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    pair = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []
    numbers = len(pair) == 2 and all(isinstance(v, Real) and not isinstance(v, bool) for v in pair)
    if not (numbers and 0 <= pair[0] < pair[1] <= 1):
        raise InvalidArgument("cutmix_minmax", value, "must be null or [min, max] with 0 <= min < max <= 1", NAME)
    return float(pair[0]), float(pair[1])


@registry.register("mixup", NAME)
class MixUp:
    """Mixup/CutMix of training batches through :class:`timm.data.Mixup`; off while ``alpha`` and
    ``cutmix_alpha`` are 0 and ``cutmix_minmax`` is ``None``.

    Args:
        num_classes: classes of the soft targets (set by the run from its data).
        alpha: Mixup's ``Beta(α, α)`` (timm ``mixup_alpha``); 0: no Mixup.
        cutmix_alpha: CutMix's ``Beta(α, α)``; 0: no CutMix.
        cutmix_minmax: ``[min, max]`` side of the CutMix box as a fraction of the frame, instead of
            ``cutmix_alpha`` (which timm then sets to 1).
        prob: probability of mixing a batch (mode ``batch``), a pair or a sample.
        switch_prob: probability of CutMix rather than Mixup when both are on.
        mode: ``batch`` (one draw per batch), ``pair`` (per pair of samples) or ``elem`` (per sample).
        label_smoothing: ``ε`` of the soft targets.
        off_epoch: the epoch from which mixing stops (timm ``mixup_off_epoch``); ``None``: never.
    """

    def __init__(
        self,
        num_classes: int,
        alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        cutmix_minmax: Sequence[float] | None = None,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        mode: str = "batch",
        label_smoothing: float = 0.0,
        off_epoch: int | None = None,
    ) -> None:
        self.alpha = validate.real(alpha, "alpha", NAME, low=0.0)
        self.cutmix_alpha = validate.real(cutmix_alpha, "cutmix_alpha", NAME, low=0.0)
        self.cutmix_minmax = _minmax(cutmix_minmax)
        self.label_smoothing = validate.probability(label_smoothing, "label_smoothing", NAME)
        self.off_epoch = None if off_epoch is None else validate.integer(off_epoch, "off_epoch", NAME, minimum=0)
        self.num_classes = validate.positive_int(num_classes, "num_classes", NAME)
        self.mixer = Mixup(
            mixup_alpha=self.alpha,
            cutmix_alpha=self.cutmix_alpha,
            cutmix_minmax=self.cutmix_minmax,
            prob=validate.real(prob, "prob", NAME, low=0.0, high=1.0),
            switch_prob=validate.real(switch_prob, "switch_prob", NAME, low=0.0, high=1.0),
            mode=validate.one_of(mode, MODES, "mode", NAME),
            label_smoothing=self.label_smoothing,
            num_classes=self.num_classes,
        )

    @property
    def cutmix(self) -> bool:
        """Whether CutMix is on."""
        return self.cutmix_alpha > 0 or self.cutmix_minmax is not None

    @property
    def mixes(self) -> bool:
        """Whether Mixup or CutMix is on (before ``off_epoch``)."""
        return self.alpha > 0 or self.cutmix

    @property
    def active(self) -> bool:
        """Whether training targets become soft: mixing or label smoothing is on."""
        return self.mixes or self.label_smoothing > 0

    def check_epochs(self, max_epochs: int | None) -> None:
        """Refuse an ``off_epoch`` the run never reaches (epochs ``0 .. max_epochs-1``, cooldown included;
        ``None``/-1: unbounded)."""
        if self.off_epoch is None or not isinstance(max_epochs, int) or not 0 <= max_epochs <= self.off_epoch:
            return
        raise InvalidArgument(
            "off_epoch",
            self.off_epoch,
            f"past the run's epochs 0..{max_epochs - 1} (it trains {max_epochs}), so mixing would never be "
            f"switched off; use an epoch below {max_epochs}, or null",
            NAME,
        )

    def check_frames(self, frame_shape: Sequence[int]) -> None:
        """Refuse CutMix on frames (a static sample, or one time step of event data) that are not 2-D images, and a
        ``cutmix_minmax`` that gives no box side on frames of this size."""
        if not self.cutmix:
            return
        key = "cutmix_minmax" if self.cutmix_minmax is not None else "cutmix_alpha"
        if len(frame_shape) < 2:
            expected = f"CutMix pastes boxes into 2-D frames, this data's are {list(frame_shape)}; use alpha (Mixup)"
            raise InvalidArgument(key, getattr(self, key), expected, NAME)
        if self.cutmix_minmax is not None:
            lo, hi = self.cutmix_minmax
            if any(int(side * lo) >= int(side * hi) for side in frame_shape[-2:]):
                size = f"{frame_shape[-2]}x{frame_shape[-1]}"
                expected = f"leaves no box side between min and max on frames of {size}; widen the range"
                raise InvalidArgument(key, list(self.cutmix_minmax), expected, NAME)

    def __call__(
        self, x: torch.Tensor, targets: torch.Tensor, epoch: int = 0, time_first: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mixed batch (same shape as ``x``, a new tensor) and its soft targets ``[B, num_classes]``.

        ``x`` is ``[B, ...]``, or ``[T, B, ...]`` when ``time_first``; ``targets`` are integer labels ``[B]``;
        mixing is on before epoch ``off_epoch``.
        """
        self.mixer.mixup_enabled = self.mixes and (self.off_epoch is None or epoch < self.off_epoch)
        samples = x.movedim(0, 1) if time_first else x
        frame = x.shape[2:] if time_first else x.shape[1:]
        size = len(samples)
        stacked = samples.reshape(size, -1, *frame[-2:]) if len(frame) >= 2 else samples.reshape(size, -1)
        even = size - size % 2
        mixed, soft = self.mixer(stacked[:even].clone(), targets[:even])
        if even < size:
            last = mixup_target(targets[even:], self.num_classes, 1.0, self.label_smoothing)
            mixed, soft = torch.cat([mixed, stacked[even:]]), torch.cat([soft, last])
        mixed = mixed.reshape(samples.shape)
        return (mixed.movedim(1, 0).contiguous() if time_first else mixed), soft
