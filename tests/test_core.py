"""Checks of fifa_nb.core on many inputs: image formats, atomic writes, seeding, devices, a light import.

The notebook nbs/00_core.ipynb holds the small, readable tests; this file holds the heavier ones.
Masks and COCO RLE (checked against pycocotools) are tested in tests/test_masks.py.
"""
import importlib.util, io, os, subprocess, sys

import numpy as np
import pytest
from PIL import Image

import json

from fifa_nb.core import (ImageError, OutputExistsError, atomic_write_bytes, image_id, json_safe, load_image, save_image,
                          set_seed, default_device)


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


@pytest.mark.parametrize('module, later', [('fifa_nb.core', ('fifa_nb.masks', 'fifa_nb.show', 'fifa_nb.landmarks')),
                                           ('fifa_nb.masks', ('fifa_nb.show', 'fifa_nb.landmarks')),
                                           ('fifa_nb.show', ('fifa_nb.landmarks',))])
def test_import_is_light(module, later):
    "No heavy library at import, and no later lesson's module either (lessons import only earlier ones)."
    heavy = ('torch', 'matplotlib', 'cv2', 'skimage') + later
    code = f"import sys, {module}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
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


def test_image_id_depends_on_pixels_only(tmp_path):
    img = (np.random.default_rng(1).random((20, 30, 3)) * 255).astype(np.uint8)
    i = image_id(img)
    assert i.startswith('sha1:') and len(i) == 17
    assert image_id(np.asfortranarray(img)) == i                       # memory layout does not matter
    assert image_id(save_image(img, tmp_path / 'x.png')) == i           # nor where the pixels came from
    assert image_id(Image.fromarray(img)) == i
    changed = img.copy(); changed[0, 0, 0] ^= 1
    assert image_id(changed) != i


def test_json_safe_round_trips():
    x = {'a': np.float64(0.123456), 'b': [np.int64(3), (np.float32(2.5), None)], 'c': np.array([[1, 2]]), 'd': np.bool_(False), 5: 'five'}
    y = json_safe(x)
    assert y == {'a': 0.1235, 'b': [3, [2.5, None]], 'c': [[1, 2]], 'd': False, '5': 'five'}
    assert json.loads(json.dumps(y)) == y and json_safe(y) == y
    assert json_safe(1 / 3, digits=2) == 0.33 and type(json_safe(np.int32(7))) is int and type(json_safe(True)) is bool
    assert json_safe([float('nan'), np.float32('inf'), 1 / 3], digits=None) == [None, None, 1 / 3]   # JSON has no NaN

