"""Compact-ReID (Lawen et al., ICMR 2020; spec §3.2-3.4): HA-CNN with ShuffleNetV2 stages, 160×64.

Global branch: ConvBlock stem -> 3 × [ShuffleStage -> Harmonious Attention] -> GeM -> FC(+BN+ReLU).
Local branch: the HA-CNN STN regions through one shared stride-2 Shuffle-B per stage -> GeM -> FC.
Head (BNNeck analogue, spec §3.3): per branch ``f`` (triplet) and ``f_n = f/|f|`` -> bias-free classifier.
Inference embedding: cat(f_n global, f_n local) = 1024-d (1×) / 1660-d (2×).
The forward contract (eval tensor / training list of ``(logits, triplet_feature)``) is HA-CNN's,
see :mod:`reid.models.hacnn`; ``triplet_on_normalized=True`` puts the triplet on ``f_n`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from reid.models.attention import ConvBlock
from reid.models.hacnn import HarmoniousNet
from reid.models.pooling import GeM
from reid.models.shuffle import ShuffleB, ShuffleStage
from reid.registry import register_model


def compact_reid(
    num_classes: int = 0,
    stem_channels: int = 32,
    channels: Sequence[int] = (128, 256, 384),
    repeats: Sequence[int] = (7, 10, 7),
    global_dim: int = 512,
    local_dim: int = 512,
    gem_p: float = 3.0,
    gem_per_channel: bool = False,
    triplet_on_normalized: bool = False,
    exact_stripes: bool = True,
    logit_scale: float = 1.0,
    train_channels_last: bool = False,
) -> HarmoniousNet:
    """Build a Compact-ReID network; the defaults are the 1× model (2,912,216 params + 2 GeM exponents).

    ``train_channels_last`` trains the global branch in NHWC: ~1.3x faster steps on CPU, the same
    arithmetic, but float32 rounding then differs from the NCHW path by ~1e-3 in the loss of an
    untrained model (its ~75 BatchNorms amplify the convolutions' different summation order).
    """
    ins = (stem_channels, *channels[:-1])
    if gem_per_channel:
        # Each branch pools a different map: global has C3 channels, local pools each region's C3 channels.
        pool = partial(GeM, gem_p, channels=channels[-1])
    else:
        pool = partial(GeM, gem_p)
    return HarmoniousNet(
        stem=ConvBlock(3, stem_channels, 3, stride=2, padding=1),
        stages=[ShuffleStage(a, b, n) for a, b, n in zip(ins, channels, repeats)],
        channels=channels,
        local_convs=[ShuffleB(a, b, 2) for a, b in zip(ins, channels)],
        global_dim=global_dim,
        local_dim=local_dim,
        num_classes=num_classes,
        pool=pool,
        classifier_bias=False,
        classify_normalized=True,
        triplet_on_normalized=triplet_on_normalized,
        exact_stripes=exact_stripes,
        logit_scale=logit_scale,
        train_channels_last=train_channels_last,
    )


@register_model("compact_reid_1x", input_size=(160, 64))
def compact_reid_1x(num_classes: int = 0, **kwargs) -> HarmoniousNet:
    """Compact-ReID 1× (paper 2.9M / 0.72B FLOPs): 2,912,216 params without classifiers and GeM p."""
    return compact_reid(num_classes, **kwargs)


@register_model("compact_reid_2x", input_size=(160, 64))
def compact_reid_2x(num_classes: int = 0, **kwargs) -> HarmoniousNet:
    """Compact-ReID 2× "deeper & wider" (FC local 700 as OCR'd): 5,262,039 params without classifiers and GeM p."""
    config = dict(
        stem_channels=36, channels=(240, 320, 480), repeats=(8, 11, 8), global_dim=960, local_dim=700
    )
    return compact_reid(num_classes, **{**config, **kwargs})
