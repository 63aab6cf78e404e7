"""Image-folder reader on PNG and JPEG files the tests write."""

import numpy as np
import pytest
import torch
from PIL import Image

import mixq.data.imagefolder as imagefolder
from mixq.data import batches, image_folder, load_dataset
from mixq.errors import MixqError
from mixq.train import TrainConfig, evaluate, train

CLASSES = ("boot", "coat", "shirt")


def write_folder(root, per_class=(4, 2), size=(6, 5), mode="L", ext="png", seed=0):
    """root/{train,test}/<class>/<i>.<ext>; returns {path: uint8 array as written}."""
    rng = np.random.default_rng(seed)
    w, h = size
    written = {}
    for split, n in zip(("train", "test"), per_class):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (h, w) if mode == "L" else (h, w, 3)
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
                path = root / split / name / f"{i}.{ext}"
                Image.fromarray(pixels, mode).save(path)
                written[path] = pixels
    return written


def test_png_pixels_labels_and_classes(tmp_path):
    written = write_folder(tmp_path)
    d = image_folder(tmp_path)
    assert (d.input_shape, d.num_classes, d.name) == ((1, 5, 6), 3, "image-folder")
    assert (len(d.train), len(d.test)) == (12, 6) and d.train.classes == CLASSES
    x, y = d.train.take(slice(0, len(d.train)))
    assert x.dtype == torch.float32 and tuple(x.shape) == (12, 1, 5, 6)
    for i, path in enumerate(d.train.paths):  # PNG is lossless: every pixel comes back exactly
        assert torch.equal(x[i, 0] * 255, torch.from_numpy(written[path]).float())
        assert CLASSES[int(y[i])] == path.parent.name
    xs, ys = d.test.take(torch.tensor([5, 0]))
    assert ys.tolist() == [2, 0] and torch.equal(xs[0], d.test.take(slice(5, 6))[0][0])


def test_jpeg_rgb_channels_and_resize(tmp_path):
    write_folder(tmp_path, mode="RGB", ext="jpg", size=(8, 4))
    (tmp_path / "train" / "coat" / "big.JPEG").write_bytes(b"")  # upper-case extension counts
    Image.new("RGB", (16, 8), (10, 200, 30)).save(tmp_path / "train" / "coat" / "big.JPEG")
    d = image_folder(tmp_path)
    assert d.input_shape == (3, 4, 8) and len(d.train) == 13
    row = d.train.paths.index(tmp_path / "train" / "coat" / "big.JPEG")
    x, _ = d.train.take(slice(row, row + 1))  # 16x8 resized to the first image's 8x4
    assert tuple(x.shape) == (1, 3, 4, 8)
    assert torch.allclose(x[0].mean((1, 2)) * 255, torch.tensor([10.0, 200.0, 30.0]), atol=4)
    grey = load_dataset("image-folder", root=tmp_path, size=3, channels=1)
    assert grey.input_shape == (1, 3, 3) and tuple(grey.test.take(slice(0, 2))[0].shape) == (
        2, 1, 3, 3)


def test_streams_one_batch_at_a_time(tmp_path, monkeypatch):
    write_folder(tmp_path, per_class=(5, 1))
    opened = []
    real_open = imagefolder.Image.open
    monkeypatch.setattr(imagefolder.Image, "open", lambda p: opened.append(p) or real_open(p))
    d = image_folder(tmp_path)
    assert len(opened) == 1  # listing the folders reads one header, no pixels
    opened.clear()
    seen = []
    for x, y in batches(d.train, 4, shuffle=True, seed=1):
        assert len(opened) == len(y) == len(x)  # only this batch's files were decoded
        seen += [d.train.paths.index(p) for p in opened]
        opened.clear()
    assert sorted(seen) == list(range(15))
    with pytest.raises(MixqError, match="never held in memory"):
        d.train.x


def test_trains_and_evaluates_from_disk(tmp_path):
    # Class k: a bright band in columns 2k, 2k+1 of a dark 6x6 image; learnable in a few epochs.
    for split, n in (("train", 6), ("test", 3)):
        for label, name in enumerate(CLASSES):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = np.full((6, 6), 20 + i, np.uint8)
                pixels[:, 2 * label: 2 * label + 2] = 220 - i
                Image.fromarray(pixels, "L").save(tmp_path / split / name / f"{i}.png")
    d = image_folder(tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3))
    config = TrainConfig(epochs=20, lr=0.05, batch_size=6, seed=0)
    result = train(model, d, config, desc="folder", progress=False)
    assert result.history[-1].test_top1 == evaluate(model, d.test) == 1.0


def test_layout_errors(tmp_path):
    with pytest.raises(MixqError, match="train' does not exist; expected root/train/<class>"):
        image_folder(tmp_path)
    write_folder(tmp_path)
    (tmp_path / "test").rename(tmp_path / "val")  # val is accepted for the test split
    assert len(image_folder(tmp_path).test) == 6
    (tmp_path / "val" / "hat").mkdir()
    with pytest.raises(MixqError, match="has classes hat that .*train' lacks"):
        image_folder(tmp_path)
    (tmp_path / "val" / "hat").rmdir()
    (tmp_path / "train" / "hat").mkdir()
    with pytest.raises(MixqError, match="hat' holds no .png/.jpg/.jpeg files"):
        image_folder(tmp_path)
    with pytest.raises(MixqError, match="channels=2 must be 1"):
        image_folder(tmp_path, channels=2)


def test_unreadable_image_is_named_when_its_batch_is_drawn(tmp_path):
    write_folder(tmp_path)
    bad = tmp_path / "test" / "shirt" / "1.png"
    bad.write_bytes(b"not a png")
    d = image_folder(tmp_path)
    with pytest.raises(MixqError, match=r"image '.*shirt/1.png' cannot be read "
                       r"\(UnidentifiedImageError") as e:
        list(batches(d.test, 4))
    assert "\n" not in str(e.value)
