"""ReID data: dataset layouts, transforms and PK samplers."""

from reid.data.datasets import Record, ReidData, load_dataset, parse_market_name
from reid.data.image_dataset import ImageDataset, ImagesOnly, read_image
from reid.data.samplers import DistributedPKBatchSampler, PKBatchSampler
from reid.data.transforms import RandomErasing, build_transforms

__all__ = [
    "DistributedPKBatchSampler",
    "ImageDataset",
    "ImagesOnly",
    "PKBatchSampler",
    "RandomErasing",
    "Record",
    "ReidData",
    "build_transforms",
    "load_dataset",
    "parse_market_name",
    "read_image",
]
