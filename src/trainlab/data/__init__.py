"""Datasets as device tensors: a registry of built-in and user-file loaders. No downloads, ever."""

from trainlab.data.registry import DatasetInfo, list_datasets, load, register_dataset
from trainlab.data.spec import Dataset, DataSpec

__all__ = ["DataSpec", "Dataset", "DatasetInfo", "list_datasets", "load", "register_dataset"]
