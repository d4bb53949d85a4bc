"""Image transforms for ReID training and evaluation (BoT recipe).

All randomness comes from the torch global RNG (in DataLoader workers torch seeds it per worker
from the loader's base seed), so saving and restoring the torch RNG state reproduces augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision import transforms as T


class RandomErasing:
    """BoT Random Erasing on a normalised CHW tensor.

    With probability ``p``, up to ``attempts`` times: area ~ U(area)*H*W, aspect ~ U(ratio),
    h = round(sqrt(area*aspect)), w = round(sqrt(area/aspect)); if the box fits, fill it with
    ``value`` per channel.
    """

    def __init__(
        self,
        p: float = 0.5,
        area: tuple[float, float] = (0.02, 0.4),
        ratio: tuple[float, float] = (0.3, 1 / 0.3),
        value: Sequence[float] = (0.4914, 0.4822, 0.4465),
        attempts: int = 100,
    ):
        self.p, self.area, self.ratio, self.value, self.attempts = p, area, ratio, tuple(value), attempts

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()).item() >= self.p:
            return img
        _, height, width = img.shape
        for _ in range(self.attempts):
            area = height * width * _uniform(*self.area)
            aspect = _uniform(*self.ratio)
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h < height and w < width:
                top = int(torch.randint(0, height - h + 1, ()).item())
                left = int(torch.randint(0, width - w + 1, ()).item())
                img = img.clone()
                for c in range(img.shape[0]):
                    img[c, top : top + h, left : left + w] = self.value[c % len(self.value)]
                return img
        return img

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, area={self.area}, ratio={self.ratio})"


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


class ToBGR:
    """Swap RGB -> BGR for models trained on BGR input."""

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return img.flip(0)


def build_transforms(
    input_size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    rgb: bool = True,
    train: bool = True,
    flip_p: float = 0.5,
    pad: int = 10,
    erase_p: float = 0.5,
    erase_area: tuple[float, float] = (0.02, 0.4),
    erase_ratio: tuple[float, float] = (0.3, 1 / 0.3),
    erase_value: Sequence[float] = (0.4914, 0.4822, 0.4465),
) -> T.Compose:
    """Resize (H, W) -> [flip -> pad + random crop] -> tensor -> normalise -> [random erasing]."""
    size = (int(input_size[0]), int(input_size[1]))
    steps: list = [T.Resize(size, interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        if flip_p > 0:
            steps.append(T.RandomHorizontalFlip(flip_p))
        if pad > 0:
            steps += [T.Pad(pad), T.RandomCrop(size)]
    steps.append(T.ToTensor())
    if not rgb:
        steps.append(ToBGR())
    steps.append(T.Normalize(mean=list(mean), std=list(std)))
    if train and erase_p > 0:
        steps.append(RandomErasing(erase_p, erase_area, erase_ratio, erase_value))
    return T.Compose(steps)
