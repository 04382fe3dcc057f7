"""Handwriting-like digit images: a generated MNIST stand-in, and a reader for real MNIST IDX files.

Nothing can be downloaded here, so the training data for the exported models is generated at export
time: the glyphs 0-9 of the DejaVu/STIX/Computer Modern fonts that matplotlib ships, each drawn with a
random affine jitter (rotation, scale, shear), random stroke width and pixel noise, then placed the
way MNIST places digits (fitted into a 20x20 box, centre of mass at the centre of a 28x28 image).
The same seed gives the same images on the same fonts.

Images are uint8 arrays [n, 784] (row-major 28x28, 0 = background, 255 = ink), labels uint8 [n].
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InferwireError

SIDE = 28
PIXELS = SIDE * SIDE
GENERATOR_VERSION = "generated-digits-v1"
# Fonts shipped inside matplotlib (a dependency), so the data set needs no system fonts.
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
              "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf",
              "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
              "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf")
_CANVAS = 48  # glyphs are drawn large and transformed before the MNIST-style downscale


class DataFormatError(InferwireError):
    """A data-set file (MNIST IDX) that cannot be read; names the file, byte offset and field."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 field: str | None = None):
        self.path, self.offset, self.field = path, offset, field
        where = ", ".join(x for x in (path, None if offset is None else f"offset {offset}",
                                      None if field is None else f"field {field}") if x)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class DigitSet:
    """Images uint8 [n, 784] and labels uint8 [n]; ``source`` says where they came from."""
    images: np.ndarray
    labels: np.ndarray
    source: str


def font_paths() -> list[Path]:
    """The font files used for generated digits (matplotlib's bundled fonts that exist here)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    ttf = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
    return [ttf / name for name in FONT_FILES if (ttf / name).exists()]


def _glyph_canvases() -> list[tuple[int, "object"]]:
    """(digit, square PIL image with the glyph centred) for every font; PIL's own font as fallback."""
    from PIL import Image, ImageDraw, ImageFont  # deferred: PIL is heavy to import
    fonts = [ImageFont.truetype(str(p), 32) for p in font_paths()] or [ImageFont.load_default(size=32)]
    out = []
    for font in fonts:
        for digit in range(10):
            img = Image.new("L", (_CANVAS, _CANVAS), 0)
            ImageDraw.Draw(img).text((_CANVAS / 2, _CANVAS / 2), str(digit), fill=255, font=font,
                                     anchor="mm")
            out.append((digit, img))
    return out


def _affine_coeffs(rng: np.random.Generator) -> tuple[float, ...]:
    """Inverse affine map (output -> input pixel) about the canvas centre, for PIL's AFFINE."""
    angle = np.deg2rad(rng.uniform(-14, 14))
    scale = rng.uniform(0.8, 1.15)
    shear = rng.uniform(-0.3, 0.3)
    aspect = rng.uniform(0.8, 1.2)
    fwd = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    fwd = fwd @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([scale * aspect, scale])
    inv = np.linalg.inv(fwd)
    c = _CANVAS / 2
    offset = np.array([c, c]) - inv @ np.array([c, c])
    return (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])


def _mnist_place(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fit the ink bounding box into 20x20 and centre its mass in 28x28, as MNIST did."""
    from PIL import Image  # deferred: PIL is heavy to import
    rows, cols = np.nonzero(glyph > 20)
    if rows.size == 0:
        return np.zeros((SIDE, SIDE), np.uint8)
    crop = glyph[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    k = 20.0 / max(h, w)
    small = np.asarray(Image.fromarray(crop).resize((max(1, round(w * k)), max(1, round(h * k))),
                                                    Image.Resampling.LANCZOS), dtype=np.float64)
    mass = small.sum() or 1.0
    cy = (small.sum(axis=1) @ np.arange(small.shape[0])) / mass
    cx = (small.sum(axis=0) @ np.arange(small.shape[1])) / mass
    top = int(round(SIDE / 2 - cy + rng.uniform(-1.5, 1.5)))
    left = int(round(SIDE / 2 - cx + rng.uniform(-1.5, 1.5)))
    top = min(max(top, 0), SIDE - small.shape[0])
    left = min(max(left, 0), SIDE - small.shape[1])
    out = np.zeros((SIDE, SIDE), np.float64)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def _one_digit(canvas, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageFilter  # deferred: PIL is heavy to import
    img = canvas.transform(canvas.size, Image.Transform.AFFINE, _affine_coeffs(rng),
                           resample=Image.Resampling.BILINEAR)
    if rng.random() < 0.6:  # MNIST strokes are thick; most font strokes are not
        img = img.filter(ImageFilter.MaxFilter(3))
    placed = _mnist_place(np.asarray(img), rng)
    placed += rng.normal(0.0, 6.0, placed.shape) * (rng.random(placed.shape) < 0.15)
    return np.clip(placed, 0, 255).astype(np.uint8).reshape(PIXELS)


def generate_digits(n: int, seed: int = 0) -> DigitSet:
    """``n`` generated digit images (balanced over 0-9 and the fonts), deterministic for ``seed``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    canvases = _glyph_canvases()
    picks = rng.integers(0, len(canvases), size=n)
    images = np.empty((n, PIXELS), np.uint8)
    labels = np.empty(n, np.uint8)
    for i, k in enumerate(picks):
        digit, canvas = canvases[k]
        images[i] = _one_digit(canvas, rng)
        labels[i] = digit
    return DigitSet(images, labels, f"{GENERATOR_VERSION} seed={seed} fonts={len(canvases) // 10}")


# --- real MNIST, from local IDX files ------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in one IDX file (optionally .gz), with its declared shape and dtype."""
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataFormatError(f"cannot read: {exc}", path=path) from exc
    return parse_idx(data, path=path)


def parse_idx(data: bytes, *, path: str | None = None) -> np.ndarray:
    """Parse IDX bytes: magic (0, 0, type, ndim), ndim big-endian uint32 sizes, then the values."""
    if len(data) < 4:
        raise DataFormatError("file shorter than the 4-byte IDX magic", path=path, offset=0,
                              field="magic")
    zero, dtype_code, ndim = struct.unpack_from(">HBB", data, 0)
    if zero != 0 or dtype_code not in _IDX_TYPES:
        raise DataFormatError(f"not an IDX file (magic {data[:4].hex()})", path=path, offset=0,
                              field="magic")
    if len(data) < 4 + 4 * ndim:
        raise DataFormatError("truncated dimension sizes", path=path, offset=4, field="dims")
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    start = 4 + 4 * ndim
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - start != need:
        raise DataFormatError(f"dims {list(shape)} need {need} data bytes, file has {len(data) - start}",
                              path=path, offset=start, field="data")
    return np.frombuffer(data, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise DataFormatError(f"missing MNIST file {stem}[.gz] (expected the four files of "
                          f"yann.lecun.com/exdb/mnist)", path=str(directory))


def load_mnist_idx(directory: str | os.PathLike, split: str = "train") -> DigitSet:
    """Real MNIST from the standard IDX files in ``directory`` (split "train" or "test")."""
    directory = Path(directory)
    img_path, lab_path = (_find(directory, stem) for stem in _IDX_FILES[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
        raise DataFormatError(f"expected uint8 images [n, 28, 28], got {images.dtype} {list(images.shape)}",
                              path=str(img_path), offset=4, field="dims")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or labels.max(initial=0) > 9:
        raise DataFormatError(f"labels {list(labels.shape)} do not match {images.shape[0]} images "
                              f"or are not 0-9", path=str(lab_path), offset=8, field="data")
    return DigitSet(images.reshape(-1, PIXELS), labels.astype(np.uint8), f"mnist-idx {split} {directory}")
