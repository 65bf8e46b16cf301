"""Checks of fifa_nb.masks against reference implementations (pycocotools) and on many random inputs.

The notebook nbs/00a_masks.ipynb holds the small, readable tests; this file holds the heavier ones.
"""
import numpy as np
import pytest

from fifa_nb.core import MaskError
from fifa_nb.masks import mask_dice, mask_iou, rle_decode, rle_encode

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope='module')
def coco_mask():
    "pycocotools' mask module (a development dependency); the tests that compare with it skip without it."
    return pytest.importorskip('pycocotools.mask')


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


def coco_encode(coco_mask, m):
    return coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))


def test_rle_encode_matches_pycocotools_byte_for_byte(coco_mask):
    rng = np.random.default_rng(0)
    n = 0
    for m in random_masks(rng):
        ours, theirs = rle_encode(m), coco_encode(coco_mask, m)
        assert ours['counts'].encode('ascii') == theirs['counts'], m.shape
        assert ours['size'] == list(theirs['size'])
        n += 1
    assert n > 100


def test_rle_decode_reads_pycocotools_output(coco_mask):
    rng = np.random.default_rng(1)
    for m in random_masks(rng):
        theirs = coco_encode(coco_mask, m)
        np.testing.assert_array_equal(rle_decode(theirs), m)  # counts as bytes, as pycocotools returns them
        np.testing.assert_array_equal(rle_decode({'size': theirs['size'], 'counts': theirs['counts'].decode()}), m)


def test_pycocotools_reads_our_output(coco_mask):
    rng = np.random.default_rng(2)
    for m in random_masks(rng):
        ours = rle_encode(m)
        decoded = coco_mask.decode({'size': ours['size'], 'counts': ours['counts'].encode('ascii')})
        np.testing.assert_array_equal(decoded.astype(bool), m)


def test_uncompressed_counts_agree_with_pycocotools(coco_mask):
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        m = rng.random(shape) < 0.3
        h, w = shape
        counts = slow_counts(m)
        uncompressed = {'size': [h, w], 'counts': counts}
        np.testing.assert_array_equal(rle_decode(uncompressed), m)
        assert coco_mask.frPyObjects(uncompressed, h, w)['counts'].decode() == rle_encode(m)['counts']


def test_mask_iou_matches_pycocotools(coco_mask):
    rng = np.random.default_rng(4)
    for shape in [(20, 30), (64, 64)]:
        for _ in range(20):
            a, b = rng.random(shape) < rng.random(), rng.random(shape) < rng.random()
            if not (a | b).any(): continue
            theirs = coco_mask.iou([coco_encode(coco_mask, a)], [coco_encode(coco_mask, b)], [0])[0, 0]
            assert mask_iou(a, b) == pytest.approx(theirs)


def test_rle_decode_rejects_corrupt_input():
    for bad, msg in [({'size': [2, 2], 'counts': '5'}, 'add up to'), ({'size': [2, 2], 'counts': '\x7f'}, 'character'),
                     ({'size': [2, -2], 'counts': '0'}, 'size'), ({'size': [2, 2], 'counts': [1.5, 2.5]}, 'whole numbers'),
                     ({'size': [2, 2], 'counts': [5, -1]}, 'negative'), ('not a dict', 'must be a dict')]:
        with pytest.raises(MaskError, match=msg): rle_decode(bad)


def test_mask_iou_and_dice_return_python_floats():
    rng = np.random.default_rng(5)
    empty = np.zeros((4, 4), bool)
    pairs = [(rng.random((16, 16)) < 0.4, rng.random((16, 16)) < 0.4), (empty, empty), (~empty, empty), (~empty, ~empty)]
    for a, b in pairs:
        for score in (mask_iou(a, b), mask_dice(a, b)):
            assert type(score) is float, type(score)   # np.float64 is a float subclass: check the exact type
            assert 0.0 <= score <= 1.0
