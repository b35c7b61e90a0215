"""Reads (Fashion-)MNIST IDX files, gzipped or not, with numpy only (no torchvision download code)."""
import gzip
import os
import struct

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _open(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb")
    raise FileNotFoundError(f"{directory}: missing {stem}[.gz]; expected the four IDX files of (Fashion-)MNIST "
                            f"(apt-get install dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)")


def _read(directory, stem):
    with _open(directory, stem) as f:
        data = f.read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{directory}/{stem}: not an unsigned-byte IDX file (header {data[:4].hex()})")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{directory}/{stem}: header says {shape} but holds {array.size} bytes")
    return array.reshape(shape)


def load(directory):
    """(train_x, train_y, test_x, test_y): images uint8 N x 1 x H x W, labels int64."""
    train_x = _read(directory, FILES["train_images"])
    train_y = _read(directory, FILES["train_labels"]).astype(np.int64)
    test_x = _read(directory, FILES["test_images"])
    test_y = _read(directory, FILES["test_labels"]).astype(np.int64)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(f"{directory}: image and label counts differ")
    return train_x[:, None, :, :], train_y, test_x[:, None, :, :], test_y
