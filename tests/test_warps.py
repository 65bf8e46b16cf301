"""The image tools of fifa_nb.warps checked against references: exact transforms, OpenCV's own warps, colour statistics."""
import cv2
import numpy as np
import pytest

from fifa_nb.samples import sample_faces
from fifa_nb.warps import (alpha_blend, color_transfer, delaunay, feather, from_lab, piecewise_affine, poisson_blend,
                           similarity_transform, to_lab, tps_warp, transform_points)

ASTRONAUT, HOPPER = sample_faces()


def test_similarity_transform_recovers_a_random_one():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, s, t = rng.uniform(-3, 3), rng.uniform(0.3, 3), rng.uniform(-50, 50, 2)
        M = np.hstack([s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]), t[:, None]])
        pts = rng.uniform(0, 200, (12, 2))
        np.testing.assert_allclose(similarity_transform(pts, transform_points(M, pts)), M, atol=1e-8)


def test_tps_warp_moves_a_dot_where_asked():
    img = np.zeros((200, 200), np.float32); cv2.circle(img, (100, 100), 3, 1.0, -1)
    out, moved = tps_warp(img, [[100, 100]], [[108, 95]], fixed=[[40, 40], [160, 40], [40, 160], [160, 160]], roi=(0, 0, 200, 200))
    y, x = np.unravel_index(np.argmax(cv2.GaussianBlur(out, (0, 0), 2)), out.shape)
    assert abs(x - 108) <= 1 and abs(y - 95) <= 1 and abs(moved[95, 108] - np.hypot(8, 5)) < 0.5


def test_tps_warp_reach_bounds_the_support():
    out, moved = tps_warp(HOPPER.image, [[250, 300]], [[256, 300]], roi=(100, 150, 400, 450), reach=40)
    ys, xs = np.nonzero(moved > 0)
    assert np.hypot(xs - 256, ys - 300).max() <= 40 + 2 * 2   # within `reach` of the moved point, give or take the grid step (2 px)
    assert (out[moved == 0] == HOPPER.image[moved == 0]).all()


def test_piecewise_affine_equals_warp_affine_for_an_affine_map():
    rng = np.random.default_rng(0)
    M = np.array([[0.9, 0.1, 10], [-0.1, 0.95, 5]])
    src = rng.uniform(20, 180, (15, 2)); dst = transform_points(M, src)
    warped, covered = piecewise_affine(HOPPER.image, src, dst, (200, 200))
    ref = cv2.warpAffine(HOPPER.image, cv2.invertAffineTransform(M), (200, 200), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
    inner = cv2.erode(covered.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    err = np.abs(warped[inner].astype(int) - ref[inner])
    assert err.max() <= 4 and err.mean() < 0.2     # OpenCV rounds coordinates to 1/32 px, differently in warpAffine and remap


def test_delaunay_covers_the_hull_once():
    pts = HOPPER.landmarks.points.astype(np.float64)
    tris = delaunay(pts)
    area = lambda p: 0.5 * abs((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[2, 0] - p[0, 0]) * (p[1, 1] - p[0, 1]))
    hull = cv2.contourArea(cv2.convexHull(pts.astype(np.float32)))
    assert abs(sum(area(pts[t]) for t in tris) - hull) < 1e-3 * hull


def test_lab_colour_transfer_and_blends():
    assert np.abs(from_lab(to_lab(ASTRONAUT.image)).astype(int) - ASTRONAUT.image).max() <= 1
    mask = np.ones(ASTRONAUT.image.shape[:2], bool)
    swapped = ASTRONAUT.image[:, :, ::-1].copy()                        # red and blue exchanged
    error = lambda im: np.abs(to_lab(im).mean((0, 1)) - to_lab(ASTRONAUT.image).mean((0, 1)))
    before, after = error(swapped), error(color_transfer(swapped, ASTRONAUT.image, mask))
    assert after.max() < 4 and after.sum() < before.sum() / 8          # not exact: colours outside RGB are clipped
    assert np.abs(color_transfer(swapped, ASTRONAUT.image, mask, amount=0).astype(int) - swapped).max() <= 1   # 0: unchanged (but for Lab rounding)
    box = np.zeros(HOPPER.image.shape[:2], bool); box[200:300, 180:330] = True
    soft = feather(box, 5)
    assert soft.dtype == np.float32 and 0 <= soft.min() and soft.max() <= 1 and soft[250, 255] > 0.99 and soft[0, 0] == 0
    assert (alpha_blend(HOPPER.image[::-1], HOPPER.image, np.zeros(box.shape)) == HOPPER.image).all()
    assert (alpha_blend(HOPPER.image[::-1], HOPPER.image, np.ones(box.shape)) == HOPPER.image[::-1]).all()
    pasted, weight = poisson_blend(np.roll(HOPPER.image, 40, axis=1), HOPPER.image, box)
    assert (pasted[weight == 0] == HOPPER.image[weight == 0]).all() and weight[box].min() > 0.4
