"""Forgeries (fifa_nb.forgery) and derived faces (fifa_nb.variants): determinism, masks that tell the truth, clear errors."""
import json

import cv2
import numpy as np
import pytest

from fifa_nb.core import FifaError
from fifa_nb.samples import sample_faces
from fifa_nb.concepts import FICT
from fifa_nb.forgery import (TRAIN_ONLY_METHODS, FORGERY_FAMILIES, FORGERY_METHODS, POSTPROCESS_OPS, FaceContext, Forgery, changed_pixels, jpeg_roundtrip,
                             make_forgery, postprocess, random_postprocess)
from fifa_nb.variants import INNOCENT_OPS, VARIANT_KINDS, innocent_edit, make_identity_variant

ASTRONAUT, HOPPER = sample_faces()
PAIRS = [(HOPPER, ASTRONAUT), (ASTRONAUT, HOPPER)]     # (target, donor)
ATOMIC = {c.name for c in FICT.atomic()}

def forge(target, donor, method, **kw): return make_forgery(target.image, target.landmarks, method, donor=donor, **kw)

def near(mask, px=3): return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0

def test_registry():
    assert set(FORGERY_METHODS.values()) == set(FORGERY_FAMILIES)
    for family in FORGERY_FAMILIES: assert sum(f == family for f in FORGERY_METHODS.values()) >= 2, family

@pytest.mark.parametrize('method', list(FORGERY_METHODS))
@pytest.mark.parametrize('pair', PAIRS, ids=lambda p: p[0].name)
def test_method_masks_and_concepts(method, pair):
    f = forge(*pair, method, seed=1)
    assert f.family == FORGERY_METHODS[method] and f.method == method
    assert f.fake.shape == f.real.shape and f.fake.dtype == np.uint8
    assert f.changed_mask.any() and f.region_mask.any()
    assert (f.changed_mask == changed_pixels(f.real, f.fake)).all()
    assert (f.changed_mask & near(f.region_mask)).sum() >= 0.95 * f.changed_mask.sum()   # changes lie in the region
    assert f.concepts and set(f.concepts) <= ATOMIC
    assert f.gt_mask is (f.changed_mask if 'swap' in f.family else f.region_mask)
    assert (f.donor is not None) == ('swap' in f.family and method not in TRAIN_ONLY_METHODS)   # a self-blend is its own donor
    json.dumps(f.params)

@pytest.mark.parametrize('method', list(FORGERY_METHODS))
def test_deterministic_per_seed(method):
    a, b = (forge(HOPPER, ASTRONAUT, method, seed=7, postprocess='random') for _ in range(2))
    assert a.fake.tobytes() == b.fake.tobytes() and a.params == b.params and a.postprocess == b.postprocess
    assert (a.region_mask == b.region_mask).all() and (a.changed_mask == b.changed_mask).all() and a.concepts == b.concepts
    c = forge(HOPPER, ASTRONAUT, method, seed=8)
    assert c.fake.tobytes() != forge(HOPPER, ASTRONAUT, method, seed=7).fake.tobytes()

@pytest.mark.parametrize('method', ['eye_enlarge', 'lip_recolor', 'swap_nose', 'face_swap_poisson', 'smile'])
def test_postprocess_never_changes_the_masks(method):
    clean = forge(ASTRONAUT, HOPPER, method, seed=2)
    ops = [{'op': 'blur', 'sigma': 0.8}, {'op': 'resize', 'scale': 0.5}, {'op': 'noise', 'sigma': 3}, {'op': 'jpeg', 'quality': 60}]
    dirty = forge(ASTRONAUT, HOPPER, method, seed=2, postprocess=ops)
    assert dirty.postprocess == ops and (dirty.fake != clean.fake).any()
    assert (dirty.changed_mask == clean.changed_mask).all() and (dirty.region_mask == clean.region_mask).all()
    assert dirty.concepts == clean.concepts and (dirty.real == clean.real).all()

def test_strength_zero_changes_nothing_and_strength_grows():
    for method in FORGERY_METHODS:
        assert not forge(HOPPER, ASTRONAUT, method, strength=0).changed_mask.any(), method
    weak, strong = (forge(HOPPER, ASTRONAUT, 'brow_raise', strength=s) for s in (0.5, 2.0))
    assert strong.changed_mask.sum() > weak.changed_mask.sum()

def test_mesh_landmarks_and_plain_arrays():
    f = make_forgery(HOPPER.image, HOPPER.mesh, 'nose_slim')
    assert f.landmarks.layout == 'mediapipe478' and f.changed_mask.any()
    g = make_forgery(HOPPER.image, HOPPER.landmarks.points, 'nose_slim')
    assert g.changed_mask.any()
    h = make_forgery(HOPPER.image, HOPPER.landmarks, 'swap_mouth', donor=(ASTRONAUT.image, ASTRONAUT.mesh))
    assert h.donor.startswith('sha1:')

def test_json_round_trip():
    f = forge(ASTRONAUT, HOPPER, 'face_swap_feather', seed=4, postprocess=[{'op': 'jpeg', 'quality': 85}])
    g = Forgery.from_dict(json.loads(json.dumps(f.to_dict())))
    for name in ('real', 'fake', 'changed_mask', 'region_mask'): assert (getattr(g, name) == getattr(f, name)).all(), name
    for name in ('concepts', 'family', 'method', 'params', 'seed', 'donor', 'postprocess', 'tolerance'): assert getattr(g, name) == getattr(f, name), name
    np.testing.assert_allclose(g.landmarks.points, f.landmarks.points, atol=1e-3)
    d = f.to_dict(images=False)
    assert 'real' not in d and Forgery.from_dict(d, real=f.real, fake=f.fake).method == f.method
    with pytest.raises(FifaError, match='pass real='): Forgery.from_dict(d)
    with pytest.raises(FifaError, match='Not a forgery record'): Forgery.from_dict({'format': 'x'})
    assert 'face_swap_feather' in repr(f) and len(repr(f)) < 200

@pytest.mark.parametrize('call, message', [
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'beautify'), 'Unknown forgery method'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'face_swap_poisson'), 'needs a donor face'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'swap_nose', donor='grace'), 'donor must be'),
    (lambda: make_forgery(np.zeros(100, np.uint8), HOPPER.landmarks, 'smile'), 'expected shape'),
    (lambda: make_forgery(HOPPER.image[:, :, None], HOPPER.landmarks, 'smile'), 'expected shape'),
    (lambda: make_forgery(HOPPER.image[:400], HOPPER.landmarks, 'smile'), 'were found on a'),
    (lambda: make_forgery(HOPPER.image, 'landmarks', 'smile'), 'must be a fifa_nb.landmarks.Landmarks'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks.points[:40], 'smile'), 'must be a fifa_nb.landmarks.Landmarks'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks.points * 10, 'smile'), 'lie inside'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks.points * 0.05, 'smile'), 'too small'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'smile', strength=-1), 'strength must be'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'smile', seed=1.5), 'seed must be'),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'smile', postprocess=[{'op': 'resize', 'scale': 3}]), "'scale' between"),
    (lambda: make_forgery(HOPPER.image, HOPPER.landmarks, 'smile', postprocess='jpeg'), 'must be a list'),
    (lambda: postprocess(HOPPER.image, [{'op': 'sharpen'}]), "'op' one of"),
])
def test_bad_inputs(call, message):
    with pytest.raises(FifaError, match=message): call()

def test_unknown_method_lists_the_methods():
    with pytest.raises(FifaError) as e: make_forgery(HOPPER.image, HOPPER.landmarks, 'beautify')
    for method in FORGERY_METHODS: assert method in str(e.value)

def test_postprocess_ops():
    img = HOPPER.image
    for op in [{'op': 'jpeg', 'quality': 50}, {'op': 'resize', 'scale': 0.5}, {'op': 'noise', 'sigma': 3}, {'op': 'blur', 'sigma': 1}]:
        out = postprocess(img, [op], seed=3)
        assert out.shape == img.shape and out.dtype == np.uint8 and 0 < np.abs(out.astype(int) - img).mean() < 10, op
        assert (postprocess(img, [op], seed=3) == out).all()
    assert (postprocess(img, []) == img).all()
    chains = [random_postprocess(np.random.default_rng(s)) for s in range(60)]
    assert any(c == [] for c in chains) and any(len(c) >= 2 for c in chains)
    assert all(o['op'] in POSTPROCESS_OPS for c in chains for o in c)
    assert random_postprocess(5) == random_postprocess(5)

def test_face_context_and_jpeg_roundtrip():
    face = FaceContext(HOPPER.image, HOPPER.mesh)
    assert face.lm.layout == 'ibug68' and face.landmarks.layout == 'mediapipe478' and 70 < face.iod < 95
    assert 'IOD' in repr(face) and face.mask('nose').any()
    with pytest.raises(FifaError, match='donor landmarks were found on'): FaceContext(HOPPER.image[:300], HOPPER.landmarks, 'donor')
    errors = [np.abs(jpeg_roundtrip(HOPPER.image, q).astype(int) - HOPPER.image).mean() for q in (95, 50, 10)]
    assert 0 < errors[0] < errors[1] < errors[2]
    assert (jpeg_roundtrip(HOPPER.image, 70) == postprocess(HOPPER.image, [{'op': 'jpeg', 'quality': 70}])).all()

# --- variants ---------------------------------------------------------------------------------------------

def dot_card(sample):
    card = np.full_like(sample.image, 40)
    for x, y in sample.landmarks.points: cv2.circle(card, (int(round(x)), int(round(y))), 2, (255, 255, 255), -1)
    return card

def on_dots(image, lm):
    p = np.round(lm.points).astype(int)
    ok = (p[:, 0] >= 0) & (p[:, 1] >= 0) & (p[:, 0] < image.shape[1]) & (p[:, 1] < image.shape[0])
    return (image[p[ok, 1], p[ok, 0]].mean(-1) > 150).mean()

@pytest.mark.parametrize('kinds', [['morph'], ['shape'], ['tone'], ['light'], ['background'], list(VARIANT_KINDS)])
def test_identity_variant(kinds):
    a = make_identity_variant(ASTRONAUT, seed=2, kinds=kinds, partner=HOPPER)
    b = make_identity_variant(ASTRONAUT, seed=2, kinds=kinds, partner=HOPPER)
    assert a[0].tobytes() == b[0].tobytes() and a[2] == b[2] and (a[1].points == b[1].points).all()
    img, lm, info = a
    assert img.shape == ASTRONAUT.image.shape and lm.image_size == img.shape[:2] and lm.layout == 'ibug68'
    assert (img != ASTRONAUT.image).any()
    assert info['variant_id'].endswith('/2') and info['kinds'] == [k for k in VARIANT_KINDS if k in kinds] and info['derived']
    assert info['source_identities'] == (['astronaut', 'grace_hopper'] if 'morph' in kinds else ['astronaut'])
    assert json.loads(json.dumps(info)) == info
    assert make_identity_variant(ASTRONAUT, seed=3, kinds=kinds, partner=HOPPER)[2]['variant_id'] != info['variant_id']
    make_forgery(img, lm, 'smile')   # a variant can be forged

@pytest.mark.parametrize('kinds', [['shape'], ['morph'], ['morph', 'shape']])
def test_variant_landmarks_follow_the_picture(kinds):
    for seed in range(4):
        img, lm, _ = make_identity_variant((dot_card(HOPPER), HOPPER.landmarks, 'card'), None, seed, kinds=kinds,
                                           partner=(dot_card(ASTRONAUT), ASTRONAUT.landmarks, 'card2'))
        assert on_dots(img, lm) >= 0.95, (kinds, seed)

def test_variant_errors():
    with pytest.raises(FifaError, match='needs partner='): make_identity_variant(HOPPER, seed=0, kinds=['morph'])
    with pytest.raises(FifaError, match='choose from'): make_identity_variant(HOPPER, seed=0, kinds=['cartoon'])
    with pytest.raises(FifaError, match='choose from'): make_identity_variant(HOPPER, seed=0, kinds=[])
    with pytest.raises(FifaError, match='needs landmarks'): make_identity_variant(HOPPER.image, None, 0)
    with pytest.raises(FifaError, match='seed must be'): make_identity_variant(HOPPER, seed=-3)

@pytest.mark.parametrize('seed', range(12))
def test_innocent_edit(seed):
    img, lm, ops = innocent_edit(dot_card(HOPPER), HOPPER.landmarks, seed)
    assert ops and all(o['op'] in INNOCENT_OPS for o in ops) and 'mask' not in json.dumps(ops)   # no mask: still real
    assert lm.image_size == img.shape[:2] and on_dots(img, lm) >= 0.95
    img2, lm2, ops2 = innocent_edit(dot_card(HOPPER), HOPPER.landmarks, seed)
    assert img2.tobytes() == img.tobytes() and ops2 == ops
    mesh_img, mesh_lm, _ = innocent_edit(HOPPER.image, HOPPER.mesh, seed)
    assert mesh_lm.layout == 'mediapipe478' and mesh_lm.image_size == mesh_img.shape[:2]

def test_innocent_flip_twice_is_identity():
    once = innocent_edit(HOPPER.image, HOPPER.landmarks, ops=[{'op': 'flip'}])
    img, lm, _ = innocent_edit(once[0], once[1], ops=[{'op': 'flip'}])
    assert (img == HOPPER.image).all()
    np.testing.assert_allclose(lm.points, HOPPER.landmarks.points, atol=1e-4)
    with pytest.raises(FifaError, match='Unknown innocent operation'): innocent_edit(HOPPER.image, HOPPER.landmarks, ops=[{'op': 'x'}])
