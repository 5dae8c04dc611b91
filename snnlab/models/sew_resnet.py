"""``sew_resnet``: SEW ResNet-18/34/50/101/152 (Fang et al., NeurIPS 2021) in the ImageNet topology.

Reference: fangwei123456/Spike-Element-Wise-ResNet, ``imagenet/sew_resnet.py`` (torchvision's ResNet with a
spiking neuron after every BN): stem ``conv7×7/2 → BN → neuron → maxpool3/2``, four stages of basic (18, 34) or
bottleneck (50, 101, 152) SEW blocks, whose shortcut is ``conv1×1 → BN → neuron`` where the shape changes,
global average pool and an FC output layer (with bias) whose outputs are averaged over time.  The reference
computes the stem conv + BN once and repeats it ``T`` times; with direct coding that is the same computation.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import (
    NeuronFactory,
    SEWBlock,
    component,
    conv_block,
    default_neuron,
    head,
    image_input,
    initialised,
    width,
)
from snnlab.models.connects import Add, Connect
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init, KaimingFanOut
from snnlab.models.norms import NormFactory
from snnlab.validate import one_of, positive

# depth: (bottleneck blocks?, blocks per stage)
SEW_DEPTHS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
REFERENCE_CONNECT, REFERENCE_INIT = Add(), KaimingFanOut()


def _sew_block(
    in_ch: int,
    planes: int,
    stride: int,
    hw: tuple[int, int],
    bottleneck: bool,
    connect: Connect,
    make_neuron: NeuronFactory,
    norm: NormFactory,
) -> tuple[SEWBlock, int, tuple[int, int]]:
    """One basic (two 3×3) or bottleneck (1×1, 3×3, 1×1 ×4) SEW block; returns it, its channels and ``(h, w)``."""
    if bottleneck:
        specs = [(planes, 1, 1), (planes, 3, stride), (planes * 4, 1, 1)]
    else:
        specs = [(planes, 3, stride), (planes, 3, 1)]
    convs, ch, out_hw = [], in_ch, hw
    for out_ch, kernel, s in specs:
        block, out_hw = conv_block(ch, out_ch, out_hw, make_neuron, norm, stride=s, kernel_size=kernel)
        convs.append(block)
        ch = out_ch
    shortcut = None
    if stride != 1 or in_ch != ch:
        shortcut, _ = conv_block(in_ch, ch, hw, make_neuron, norm, stride=stride, kernel_size=1)
    return SEWBlock(nn.Sequential(*convs), connect, shortcut), ch, out_hw


@registry.register("model")
def sew_resnet(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    depth: int = 34,
    connect: Connect = REFERENCE_CONNECT,
    width_mult: float = 1.0,
    spiking_head: bool = False,
    init: Init | None = REFERENCE_INIT,
) -> nn.Sequential:
    """SEW ResNet-``depth`` with element-wise function ``connect`` (``ADD``, ``AND``, ``IAND``).

    Channels (64, 128, 256, 512 per stage, ×4 at bottleneck outputs) are scaled by ``width_mult``; ``init``: the
    reference's Kaiming-normal fan-out convs and torch's FC (``None``: torch's everywhere).  The net has no hidden
    FC layer and no dropout: a ``dropout`` other than ``none`` is refused.
    """
    depth = one_of(depth, sorted(SEW_DEPTHS), "depth", "sew_resnet")
    connect = component(connect, Connect, "connect", "sew_resnet")
    width_mult = positive(width_mult, "width_mult", "sew_resnet")
    init = component(init, Init, "init", "sew_resnet", optional=True)
    (dropout or DropoutFactory()).require_positions("sew_resnet", after_neurons=False, hidden_fc=False)
    norm = norm or NormFactory()
    bottleneck, n_blocks = SEW_DEPTHS[depth]
    image_ch, hw = image_input("sew_resnet", input_shape)
    ch = width(64, width_mult)
    stem, hw = conv_block(image_ch, ch, hw, make_neuron, norm, stride=2, kernel_size=7)
    body: list[nn.Module] = [stem, layers.MaxPool2d(3, 2, 1)]
    hw = ((hw[0] - 1) // 2 + 1, (hw[1] - 1) // 2 + 1)
    for stage, blocks in enumerate(n_blocks):
        planes = width(64 * 2**stage, width_mult)
        for i in range(blocks):
            block, ch, hw = _sew_block(
                ch, planes, 2 if stage and not i else 1, hw, bottleneck, connect, make_neuron, norm
            )
            body.append(block)
    body += [
        layers.AdaptiveAvgPool2d(1),
        layers.Flatten(),
        head(ch, num_classes, make_neuron, spiking_head),
    ]
    return initialised(nn.Sequential(*body), init)
