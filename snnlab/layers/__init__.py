"""Step-mode layers: stateless wrappers, normalisation, dropout and online-learning modules."""

from snnlab.base import STEP_MODES, MemoryModule, StatelessModule, StepModule, check_rank, check_step_mode
from snnlab.layers.batch_norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, NormWrapper
from snnlab.layers.bntt import BatchNormThroughTime1d, BatchNormThroughTime2d, BatchNormThroughTime3d
from snnlab.layers.dropconnect import DropConnectLinear
from snnlab.layers.dropout import Dropout, Dropout2d
from snnlab.layers.fusion import fuse_conv_bn
from snnlab.layers.neunorm import NeuNorm
from snnlab.layers.online_learning import (
    GradwithTrace,
    OTTTSequential,
    ReplaceforGrad,
    SpikeTraceOp,
    grad_with_trace,
)
from snnlab.layers.spike_products import SpikeMask, SpikeMatMul, SpikeSum
from snnlab.layers.stateless import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose2d,
    Flatten,
    Identity,
    Linear,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    TimeFold,
    Upsample,
)
from snnlab.layers.tdbn import (
    ThresholdDependentBatchNorm1d,
    ThresholdDependentBatchNorm2d,
    ThresholdDependentBatchNorm3d,
)
from snnlab.layers.tebn import (
    TemporalEffectiveBatchNorm1d,
    TemporalEffectiveBatchNorm2d,
    TemporalEffectiveBatchNorm3d,
)
from snnlab.layers.ws_conv import Scale, ScaledWSConv2d

__all__ = [
    "STEP_MODES",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "BatchNormThroughTime1d",
    "BatchNormThroughTime2d",
    "BatchNormThroughTime3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose2d",
    "DropConnectLinear",
    "Dropout",
    "Dropout2d",
    "Flatten",
    "GradwithTrace",
    "Identity",
    "Linear",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MemoryModule",
    "NeuNorm",
    "NormWrapper",
    "OTTTSequential",
    "ReplaceforGrad",
    "Scale",
    "ScaledWSConv2d",
    "SpikeMask",
    "SpikeMatMul",
    "SpikeSum",
    "SpikeTraceOp",
    "StatelessModule",
    "StepModule",
    "TemporalEffectiveBatchNorm1d",
    "TemporalEffectiveBatchNorm2d",
    "TemporalEffectiveBatchNorm3d",
    "ThresholdDependentBatchNorm1d",
    "ThresholdDependentBatchNorm2d",
    "ThresholdDependentBatchNorm3d",
    "TimeFold",
    "Upsample",
    "check_rank",
    "check_step_mode",
    "fuse_conv_bn",
    "grad_with_trace",
]
