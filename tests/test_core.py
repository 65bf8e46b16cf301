"""Checks of fifa_nb.core against reference implementations (pycocotools) and on many random inputs.

The notebook nbs/00_core.ipynb holds the small, readable tests; this file holds the heavier ones.
"""
import importlib.util, io, os, subprocess, sys

import numpy as np
import pytest
from PIL import Image

from fifa_nb.core import (ImageError, MaskError, OutputExistsError, atomic_write_bytes, load_image, mask_iou,
                          rle_decode, rle_encode, save_image, set_seed, default_device)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
coco_mask = pytest.importorskip('pycocotools.mask')

SHAPES = [(1, 1), (1, 2), (2, 1), (1, 37), (37, 1), (2, 2), (3, 3), (5, 7), (16, 16), (31, 17), (64, 48), (127, 255), (300, 200)]


def random_masks(rng):
    "Masks of many shapes and densities, plus structured ones (blobs, stripes) with long runs."
    for shape in SHAPES:
        yield np.zeros(shape, bool)
        yield np.ones(shape, bool)
        for p in (0.001, 0.05, 0.5, 0.95, 0.999):
            yield rng.random(shape) < p
        yy, xx = np.mgrid[:shape[0], :shape[1]]
        yield (xx - shape[1] / 2) ** 2 + (yy - shape[0] / 3) ** 2 < (min(shape) / 3) ** 2
        yield (xx // max(1, shape[1] // 5)) % 2 == 0


def slow_counts(m):
    "Column-major run lengths starting with a run of 0s, one pixel at a time (an independent reference)."
    counts, current, run = [], False, 0
    for pixel in m.flatten(order='F'):
        if pixel != current: counts.append(run); current, run = pixel, 0
        run += 1
    return counts + [run]


def coco_encode(m):
    return coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))


def test_rle_encode_matches_pycocotools_byte_for_byte():
    rng = np.random.default_rng(0)
    n = 0
    for m in random_masks(rng):
        ours, theirs = rle_encode(m), coco_encode(m)
        assert ours['counts'].encode('ascii') == theirs['counts'], m.shape
        assert ours['size'] == list(theirs['size'])
        n += 1
    assert n > 100


def test_rle_decode_reads_pycocotools_output():
    rng = np.random.default_rng(1)
    for m in random_masks(rng):
        theirs = coco_encode(m)
        np.testing.assert_array_equal(rle_decode(theirs), m)  # counts as bytes, as pycocotools returns them
        np.testing.assert_array_equal(rle_decode({'size': theirs['size'], 'counts': theirs['counts'].decode()}), m)


def test_pycocotools_reads_our_output():
    rng = np.random.default_rng(2)
    for m in random_masks(rng):
        ours = rle_encode(m)
        decoded = coco_mask.decode({'size': ours['size'], 'counts': ours['counts'].encode('ascii')})
        np.testing.assert_array_equal(decoded.astype(bool), m)


def test_uncompressed_counts_agree_with_pycocotools():
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        m = rng.random(shape) < 0.3
        h, w = shape
        counts = slow_counts(m)
        uncompressed = {'size': [h, w], 'counts': counts}
        np.testing.assert_array_equal(rle_decode(uncompressed), m)
        assert coco_mask.frPyObjects(uncompressed, h, w)['counts'].decode() == rle_encode(m)['counts']


def test_mask_iou_matches_pycocotools():
    rng = np.random.default_rng(4)
    for shape in [(20, 30), (64, 64)]:
        for _ in range(20):
            a, b = rng.random(shape) < rng.random(), rng.random(shape) < rng.random()
            if not (a | b).any(): continue
            theirs = coco_mask.iou([coco_encode(a)], [coco_encode(b)], [0])[0, 0]
            assert mask_iou(a, b) == pytest.approx(theirs)


def test_rle_decode_rejects_corrupt_input():
    for bad, msg in [({'size': [2, 2], 'counts': '5'}, 'add up to'), ({'size': [2, 2], 'counts': '\x7f'}, 'character'),
                     ({'size': [2, -2], 'counts': '0'}, 'size'), ({'size': [2, 2], 'counts': [1.5, 2.5]}, 'whole numbers'),
                     ({'size': [2, 2], 'counts': [5, -1]}, 'negative'), ('not a dict', 'must be a dict')]:
        with pytest.raises(MaskError, match=msg): rle_decode(bad)


def test_load_image_never_modifies_or_shares_input():
    a = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    before = a.copy()
    out = load_image(a)
    out[:] = 0
    np.testing.assert_array_equal(a, before)
    f = np.asfortranarray(a)
    assert load_image(f).flags.c_contiguous


def test_load_image_binary_file_object_and_path(tmp_path):
    img = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    p = save_image(img, tmp_path / 'x.png')
    np.testing.assert_array_equal(load_image(p), img)
    np.testing.assert_array_equal(load_image(str(p)), img)
    with open(p, 'rb') as f: np.testing.assert_array_equal(load_image(f), img)
    with pytest.raises(OutputExistsError, match='overwrite=True'): save_image(img, p)
    with pytest.raises(ImageError, match='folder'): load_image(tmp_path)
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(ImageError, match='not an image'): load_image(tmp_path / 'empty.jpg')


def test_cmyk_and_16bit_tiff():
    cmyk = Image.new('CMYK', (20, 20), (0, 255, 255, 0))  # no black, full magenta and yellow: red
    np.testing.assert_array_equal(load_image(cmyk)[0, 0], [255, 0, 0])
    a = (np.arange(400).reshape(20, 20) * 150).astype(np.uint16)
    buf = io.BytesIO(); Image.fromarray(a).save(buf, 'TIFF')
    np.testing.assert_array_equal(load_image(buf.getvalue())[..., 0], np.rint(a / 257).astype(np.uint8))


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    p = atomic_write_bytes(tmp_path / 'a.bin', b'old')
    with pytest.raises(TypeError): atomic_write_bytes(p, 'not bytes', overwrite=True)
    assert p.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['a.bin']


def test_set_seed_sets_hash_seed_for_subprocesses():
    set_seed(123)
    out = subprocess.run([sys.executable, '-c', 'import os; print(os.environ["PYTHONHASHSEED"], hash("fifa"))'],
                         capture_output=True, text=True, check=True).stdout.split()
    again = subprocess.run([sys.executable, '-c', 'print(hash("fifa"))'], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == '123' and out[1] == again[0]


def test_import_is_light():
    code = "import sys, fifa_nb.core; print(' '.join(m for m in ('torch', 'matplotlib', 'cv2', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ''


@pytest.mark.skipif(importlib.util.find_spec('torch') is None, reason='torch is not installed')
def test_torch_seed_and_device():
    import torch
    set_seed(7); a = torch.rand(3)
    set_seed(7); b = torch.rand(3)
    assert torch.equal(a, b)
    assert isinstance(default_device(), torch.device)
    assert default_device('cpu') == torch.device('cpu')
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match='cuda.is_available'): default_device('cuda')


def test_transparency_is_composited_over_white():
    la = Image.fromarray(np.dstack([np.full((20, 20), 10, np.uint8), np.zeros((20, 20), np.uint8)]))
    assert la.mode == 'LA'
    np.testing.assert_array_equal(load_image(la)[0, 0], [255, 255, 255])
    p = Image.new('P', (20, 20), 0); p.putpalette([200, 0, 0] + [0, 0, 0] * 255)
    np.testing.assert_array_equal(load_image(p)[0, 0], [200, 0, 0])  # opaque palette image: its colour
    for fmt in ('GIF', 'PNG'):
        buf = io.BytesIO(); p.save(buf, fmt, transparency=0)
        np.testing.assert_array_equal(load_image(buf.getvalue())[0, 0], [255, 255, 255], err_msg=fmt)


def test_big_endian_16bit_pil_image():
    a = (np.arange(400).reshape(20, 20) * 160).astype('>u2')
    im = Image.frombytes('I;16B', (20, 20), a.tobytes())
    np.testing.assert_array_equal(load_image(im)[..., 0], np.rint(a.astype(float) / 257).astype(np.uint8))
