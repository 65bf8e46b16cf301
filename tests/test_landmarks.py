"""Direct tests of fifa_nb.landmarks (the notebook nbs/01_landmarks.ipynb runs more, with pictures)."""
import json

import numpy as np
import pytest

from fifa_nb.core import FifaError
from fifa_nb.samples import sample_face, sample_faces
from fifa_nb.landmarks import (BackendUnavailableError, CLOSED_GROUPS, FaceTooSmallError, LAYOUT_MIRRORS, LAYOUT_SIZES, LAYOUTS,
                               Landmarks, MESH_MIRROR, MESH_TO_IBUG68, NoFaceError, available_backends,
                               detect_landmarks, fit_mean_shape, mean_shape_ibug68)

BACKENDS = available_backends()
needs = lambda b: pytest.mark.skipif(BACKENDS[b] is not None, reason=f"{b} backend unavailable: {BACKENDS[b]}")


@pytest.fixture(scope="module")
def faces(): return sample_faces()


def test_layouts_are_consistent():
    for layout, groups in LAYOUTS.items():
        for name, idx in groups.items():
            assert all(0 <= i < LAYOUT_SIZES[layout] for i in idx), (layout, name)
        mirror = np.array(LAYOUT_MIRRORS[layout])
        assert (mirror[mirror] == np.arange(LAYOUT_SIZES[layout])).all()
        for a, b in [("right_eye", "left_eye"), ("right_brow", "left_brow")]:
            assert sorted(mirror[groups[a]]) == sorted(groups[b])
    assert len(MESH_TO_IBUG68) == 68 and all(0 <= i < 468 for i in MESH_TO_IBUG68)
    assert [MESH_TO_IBUG68[LAYOUT_MIRRORS["ibug68"][i]] for i in range(68)] == [MESH_MIRROR[v] for v in MESH_TO_IBUG68]


def test_samples_follow_the_subject_convention(faces):
    for f in faces:
        for lm in (f.landmarks, f.mesh):
            assert lm.image_size == f.image.shape[:2]
            for l in (lm, lm.flipped()):  # the subject's left eye is on the image's right, also after a flip
                assert l.group("left_eye")[:, 0].mean() > l.group("right_eye")[:, 0].mean()
            np.testing.assert_allclose(lm.flipped().flipped().points, lm.points, atol=1e-4)
            for g in CLOSED_GROUPS[lm.layout]:  # closed contours run clockwise in the image (shoelace area > 0)
                for l in (lm, lm.flipped()):
                    x, y = l.group(g).T
                    assert (x * np.roll(y, -1) - np.roll(x, -1) * y).sum() > 0, (f.name, g)


def test_mesh_converts_to_ibug68(faces):
    for f in faces:
        conv = f.mesh.to_ibug68()
        assert conv.layout == "ibug68" and conv.points.shape == (68, 2)
        iod = np.linalg.norm(f.landmarks.points[36] - f.landmarks.points[45])
        assert np.linalg.norm(conv.points - f.landmarks.points, axis=1).mean() / iod < 0.06


def test_json_round_trip_and_validation(tmp_path, faces):
    lm = faces[0].mesh
    path = lm.to_json(tmp_path / "a.json")
    back = Landmarks.from_json(path)
    np.testing.assert_allclose(back.points, lm.points, atol=1e-3)
    assert (back.layout, back.box, back.image_size, back.n_faces) == (lm.layout, lm.box, lm.image_size, lm.n_faces)
    with pytest.raises(FifaError): lm.to_json(path)  # no silent overwrite
    d = lm.to_dict(); d["layout"] = "ibug68"
    (tmp_path / "b.json").write_text(json.dumps(d))
    with pytest.raises(FifaError, match="68 points"): Landmarks.from_json(tmp_path / "b.json")
    d = lm.to_dict(); d["points"][3] = [float("nan"), 1.0]
    with pytest.raises(FifaError, match="finite"): Landmarks.from_dict(d)
    with pytest.raises(FifaError, match="format"): Landmarks.from_dict({"layout": "ibug68"})
    with pytest.raises(FifaError, match="left_eye"): lm.group("mouth")


def test_scaled_follows_a_resize(faces):
    lm = faces[1].landmarks
    half = lm.scaled(0.5)
    assert half.image_size == (300, 256)
    np.testing.assert_allclose(half.scaled(2).points, lm.points, atol=1e-3)


def test_mean_shape_fits_its_box():
    shape = mean_shape_ibug68()
    assert shape.shape == (68, 2) and 0 < shape[:, 0].min() and shape[:, 0].max() < 1
    pts = fit_mean_shape((10, 20, 110, 220))
    np.testing.assert_allclose(pts, shape * [100, 200] + [10, 20], atol=1e-4)


@needs("dlib")
def test_dlib_reproduces_the_stored_points(faces):
    for f in faces:
        lm = detect_landmarks(f.image, backend="dlib")
        assert (lm.backend, lm.n_faces, lm.approximate) == ("dlib", 1, False)
        np.testing.assert_allclose(lm.points, f.landmarks.points, atol=1e-3)


@pytest.mark.parametrize("backend", ["dlib", "mediapipe", "opencv"])
def test_bad_inputs(backend):
    if BACKENDS[backend] is not None:
        with pytest.raises(BackendUnavailableError): detect_landmarks(np.zeros((64, 64, 3), np.uint8), backend=backend)
        return
    with pytest.raises(NoFaceError, match="No face found"):
        detect_landmarks(np.full((128, 128, 3), 128, np.uint8), backend=backend)
    astro = sample_face("astronaut").image
    with pytest.raises(FaceTooSmallError, match="min_face_size=200"):
        detect_landmarks(astro, backend=backend, min_face_size=200)


def test_moved_carries_the_box_and_metadata(faces):
    lm = faces[0].landmarks
    shifted = lm.moved(lm.points + [7, -3])
    np.testing.assert_allclose(shifted.box, np.array(lm.box) + [7, -3, 7, -3], atol=1e-3)
    assert (shifted.layout, shifted.backend, shifted.image_size, shifted.n_faces) == (lm.layout, lm.backend, lm.image_size, lm.n_faces)
    c = lm.points.mean(0)
    half = lm.moved(c + 0.5 * (lm.points - c), image_size=(100, 120))
    np.testing.assert_allclose([half.box[2] - half.box[0], half.box[3] - half.box[1]],
                               [0.5 * (lm.box[2] - lm.box[0]), 0.5 * (lm.box[3] - lm.box[1])], rtol=1e-4)
    assert half.image_size == (100, 120) and lm.moved(lm.points).box == pytest.approx(lm.box)
    mesh = faces[0].mesh.moved(faces[0].mesh.points * 1.0)
    assert mesh.layout == 'mediapipe478'
    with pytest.raises(FifaError, match='needs 68 points'): lm.moved(lm.points[:20])
    with pytest.raises(FifaError, match='needs 68 points'): lm.moved(lm.points.ravel())
