"""Datasets: N-MNIST and SHD readers, event transforms, and a disk cache of transformed samples.

>>> from spiking.datasets import NMNIST, ToFrames, CachedDataset
>>> train = NMNIST(split="train", transform=ToFrames(NMNIST.sensor_size, time_window=10_000))
>>> frames, label = CachedDataset(train)[0]          # frames: [T, 2, 34, 34] float32

This layer depends on numpy, h5py and tqdm only; tonic (which imports torch) is imported only
when a download is asked for. Samples are numpy arrays.
"""
from .cache import CachedDataset, stable_repr
from .cochlea import CochleaParams, cochlea_spikes, erb_space
from .errors import CacheRebuildWarning, DataFormatError, DatasetNotFoundError, DownloadError
from .fsdd import convert_fsdd, read_wav
from .nmnist import DEFAULT_VAL_IDS, EVENT_DTYPE, NMNIST, read_nmnist_bin
from .paths import data_root, default_cache_dir
from .shd import SHD, SPIKE_DTYPE
from .transforms import (
    CenterCrop,
    Compose,
    Crop,
    Downsample,
    MergePolarities,
    SelectPolarity,
    ToChannelCounts,
    ToFrames,
    center_crop,
    crop,
    downsample,
    merge_polarities,
    select_polarity,
    to_channel_counts,
    to_frames,
)

__all__ = [
    "NMNIST", "SHD", "CachedDataset",
    "CochleaParams", "cochlea_spikes", "erb_space", "convert_fsdd", "read_wav",
    "read_nmnist_bin", "EVENT_DTYPE", "SPIKE_DTYPE", "DEFAULT_VAL_IDS",
    "data_root", "default_cache_dir",
    "ToFrames", "ToChannelCounts", "Crop", "CenterCrop", "Downsample", "SelectPolarity",
    "MergePolarities", "Compose",
    "to_frames", "to_channel_counts", "crop", "center_crop", "downsample", "select_polarity",
    "merge_polarities", "stable_repr",
    "DataFormatError", "DatasetNotFoundError", "DownloadError", "CacheRebuildWarning",
]
