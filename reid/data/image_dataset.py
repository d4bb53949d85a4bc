"""torch Datasets over :class:`~reid.data.datasets.Record` lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from mtmc.errors import DataError
from reid.data.datasets import Record


def read_image(path) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read image: {err}", path=path) from None


class ImageDataset(torch.utils.data.Dataset):
    """Items are ``(image_tensor, pid, camera)``."""

    def __init__(self, records: Sequence[Record], transform: Callable):
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        rec = self.records[index]
        return self.transform(read_image(rec.path)), rec.pid, rec.camera

    @property
    def pids(self) -> list[int]:
        return [r.pid for r in self.records]


class ImagesOnly(torch.utils.data.Dataset):
    """A view of a dataset that yields only the image (for BatchNorm statistics refreshes)."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.dataset[index][0]
