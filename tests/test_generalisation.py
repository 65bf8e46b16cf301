"""Judging the face, not the photograph: one crop everywhere, augmentation shared by reals and fakes (masks follow),
self-blended fakes, grounded text, an evidence-based calibrated verdict."""
import numpy as np
import pytest

from fifa_nb.core import FifaError
from fifa_nb.samples import sample_face, sample_faces
from fifa_nb.landmarks import FACE_MARGIN, crop_face, cut_box, face_box
from fifa_nb.forgery import FORGERY_METHODS, TRAIN_ONLY_METHODS, make_forgery
from fifa_nb.annotator import annotate
from fifa_nb.tasks import AnnotatedImage, Sample

ASTRONAUT, HOPPER = sample_faces()


# ---- one crop ------------------------------------------------------------------------------------------------------

def test_one_crop_in_every_path():
    "The dataset, find_face and the CLI cut the same square from the same landmarks; a fake is framed like its real."
    from fifa_nb.demo import find_face
    from fifa_nb.cli_args import _face_crop
    f = make_forgery(HOPPER.image, HOPPER.landmarks, 'face_swap_feather', donor=ASTRONAUT, seed=1)
    fake = AnnotatedImage.from_forgery(f, annotate(f.real, f.fake, HOPPER.landmarks)).face_crop(256)
    real = AnnotatedImage.real(f.real, HOPPER.landmarks, annotate(f.real, f.real, HOPPER.landmarks)).face_crop(256)
    assert fake.meta['crop'] == real.meta['crop'] == list(face_box(HOPPER.landmarks))   # never grown to hold the artifact
    face = find_face(f.real, landmarks=HOPPER.landmarks)
    assert tuple(face.box) == face_box(HOPPER.landmarks) and (face.image == real.image).all()
    crop, _ = _face_crop(HOPPER.image, HOPPER.landmarks, size=300)
    assert (crop == crop_face(HOPPER.image, HOPPER.landmarks, 300, margin=2.2)[0]).all()

def test_crop_is_padded_not_moved_at_the_edge():
    "A face at the picture's edge stays centred in its crop (edge pixels repeated), and masks paste back where they were."
    from fifa_nb.demo import find_face
    img, lm = HOPPER.image, HOPPER.landmarks
    x0, y0, x1, y1 = face_box(lm)
    cut = np.ascontiguousarray(img[:, (x0 + x1) // 2 - 20:])          # the face's left half now touches the left edge
    moved = lm.moved(lm.points - np.float32([(x0 + x1) // 2 - 20, 0]))
    moved = type(lm)(moved.points, moved.layout, box=moved.box, image_size=cut.shape[:2])
    crop, lm_crop, box = crop_face(cut, moved, 256)
    assert box[0] < 0                                                  # the square reaches past the picture ...
    c = lm_crop.points.min(0) / 2 + lm_crop.points.max(0) / 2
    assert np.abs(c - 127.5).max() < 2                                  # ... and the face stays in the middle of the crop
    face = find_face(cut, landmarks=moved)
    m = np.zeros((256, 256), bool); m[100:150, 100:150] = True
    full = face.paste(m)
    assert full.shape == cut.shape[:2] and full.any()
    assert cut_box(np.ones((5, 5), bool), (-3, -3, 2, 2), pad='zero').sum() == 4

def test_face_box_checks_its_numbers():
    with pytest.raises(FifaError, match='margin'): face_box(HOPPER.landmarks, margin=0)
    with pytest.raises(FifaError, match='scale'): face_box(HOPPER.landmarks, scale=float('nan'))
    assert FACE_MARGIN == 2.0


# ---- self-blends ---------------------------------------------------------------------------------------------------

def test_self_blend_needs_no_donor_and_is_training_only():
    f = make_forgery(ASTRONAUT.image, ASTRONAUT.landmarks, 'self_blend', seed=4)
    assert f.family == 'identity_swap' and f.donor is None and 'self_blend' in TRAIN_ONLY_METHODS
    assert f.changed_mask.any() and f.region_mask.any()
    assert (f.changed_mask & ~f.region_mask).mean() < 0.01          # what changed lies where the blend was applied
    g = make_forgery(ASTRONAUT.image, ASTRONAUT.landmarks, 'self_blend', seed=4)
    assert (g.fake == f.fake).all()                                   # seeded
    assert FORGERY_METHODS['self_blend'] == 'identity_swap'


# ---- augmentation ----------------------------------------------------------------------------------------------------

def _square_sample(is_fake, task='loc'):
    img = np.zeros((128, 128, 3), np.uint8); img[40:80, 50:90] = 255
    m = img[..., 0] > 0
    return Sample(id='x', task=task, split='train', image=img, question='q', answer='The manipulated area is [SEG].' if task == 'loc' else 'Real.',
                  masks=[m] if task == 'loc' else [], labels=dict(is_fake=is_fake, family='attribute' if is_fake else None, method=None),
                  meta=dict(artifact=None))

def test_augmentation_treats_real_and_fake_alike():
    "The same picture with the same seed gives the same view, whatever its label: no label-dependent augmentation."
    from fifa_nb.train import augment_sample
    real, fake = _square_sample(False, 'det'), _square_sample(True, 'det')
    for seed in range(6):
        assert (augment_sample(real, seed).image_array == augment_sample(fake, seed).image_array).all()
    views = [augment_sample(real, seed).image_array for seed in range(6)]
    assert len({v.tobytes() for v in views}) == 6                      # and it does change the picture

def test_masks_follow_the_geometry():
    "With the photometric steps off, the warped mask still covers the warped bright square."
    from fifa_nb.train import augment_sample
    off = dict(low_res=0, blur=0, motion=0, noise=0, color=0, sharpen=0, jpeg=0)
    s = _square_sample(True)
    moved = 0
    for seed in range(8):
        v = augment_sample(s, seed, off)
        bright = v.image_array[..., 0] > 127
        inter, union = (bright & v.masks[0]).sum(), (bright | v.masks[0]).sum()
        assert inter / union > 0.9, seed
        moved += not (v.masks[0] == s.masks[0]).all()
    assert moved >= 6

def test_mixer_views_are_seeded():
    from fifa_nb.train import TaskMixer, augment_sample
    data = [_square_sample(i % 2 == 0) for i in range(6)]
    mix = TaskMixer(data, dict(loc=1.0), seed=3, augment=augment_sample)
    a, b = mix.batch(5, 4), mix.batch(5, 4)
    assert all((x.image_array == y.image_array).all() for x, y in zip(a, b))
    assert any((x.image_array != y.image_array).any() for x, y in zip(a, mix.batch(6, 4)))


# ---- grounded text, evidence and calibration --------------------------------------------------------------------------

def test_ground_text_drops_ungrounded_sentences():
    from fifa_nb.model import ground_text
    yes, no = np.ones((4, 4), bool), np.zeros((4, 4), bool)
    raw = 'The face is fake. <p>The nose</p> [SEG] is narrower. <p>The left eye</p> [SEG] is blurred. <p>The mouth</p> looks odd.'
    text, masks, dropped = ground_text(raw, [yes, no])
    assert text == 'The face is fake. <p>The nose</p> [SEG] is narrower.' and len(masks) == 1 and dropped == 2
    assert ground_text('Real.', []) == ('Real.', [], 0)

@pytest.fixture(scope='module')
def tiny():
    torch = pytest.importorskip('torch')
    from fifa_nb.model import FiFaMLLM
    return FiFaMLLM.from_preset('tiny', seed=1)

def test_answers_name_no_empty_mask_and_fake_shows_where(tiny):
    "Whatever a (random) model generates: no segment has an empty mask; an image-level 'fake' comes with evidence."
    from fifa_nb.model import EVIDENCE_MIN_SHARE, IMAGE_LEVEL
    from fifa_nb.model import example_samples
    samples = [s for s in example_samples(3, size=64) if s.task in ('age', 'loc', 'det', 'toe', 'region_exp')][:12]
    for thr in (0.3, 0.5, 0.7):
        for s, a in zip(samples, tiny.analyze_batch(samples, max_new_tokens=24, threshold=thr)):
            assert all(g.mask is not None and g.mask.any() for g in a.segments), (s.task, a.raw_text)
            if a.task in IMAGE_LEVEL and a.verdict == 'fake':
                assert a.masks or (a.pixel_map >= thr).mean() >= EVIDENCE_MIN_SHARE

def test_calibration_is_fitted_and_saved(tiny, tmp_path):
    from fifa_nb.generalisation import fit_platt, reliability
    from fifa_nb.model import FiFaMLLM
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, 3000); y = (rng.random(3000) < 1 / (1 + np.exp(-(0.5 * z - 1)))).astype(float)
    cal = fit_platt(z, y, balanced=False)
    assert abs(cal['a'] - 0.5) < 0.08 and abs(cal['b'] + 1) < 0.12
    assert reliability(1 / (1 + np.exp(-(cal['a'] * z + cal['b']))), y)['ece'] < reliability(1 / (1 + np.exp(-z)), y)['ece']
    with pytest.raises(FifaError, match='both'): fit_platt(z, np.ones_like(z))
    tiny.config.calibration = dict(cal, split='val', n=3000)
    try:
        assert abs(tiny.calibrated_score(2.0) - 1 / (1 + np.exp(-(cal['a'] * 2 + cal['b'])))) < 1e-9
        tiny.save_pretrained(tmp_path / 'ck')
        back = FiFaMLLM.from_pretrained(tmp_path / 'ck')
        assert back.config.calibration['a'] == pytest.approx(cal['a'])
    finally: tiny.config.calibration = None

def test_calibrate_refuses_test_splits(tiny):
    from fifa_nb.generalisation import calibrate
    with pytest.raises(FifaError, match='never on'): calibrate(tiny, 'nowhere', split='test_ood')

def test_photo_views_are_real_photos_reframed():
    from fifa_nb.generalisation import photo_views
    v = photo_views(ASTRONAUT.image, ASTRONAUT.landmarks, size=128)
    assert len(v) == 12 and all(x.shape == (128, 128, 3) for x in v.values())
    assert (v['as given'] == crop_face(ASTRONAUT.image, ASTRONAUT.landmarks, 128)[0]).all()
    assert not (v['shift right 8px'] == v['as given']).all() and not (v['mirrored'] == v['as given']).all()

def test_calibrate_command_writes_the_checkpoint(tiny, tmp_path):
    "fifa_nb calibrate fits on val, changes only config.json (a model card beside it survives), and the manifest still verifies."
    pytest.importorskip('datasets')
    from fifa_nb.cli import main
    from fifa_nb.dataset import build_dataset
    from fifa_nb.model import FiFaMLLM
    data = tmp_path / 'data'
    build_dataset(data, n=12, seed=0, progress=False)
    ck = tmp_path / 'ck'
    tiny.save_pretrained(ck)
    (ck / 'README.md').write_text('my card')
    from fifa_nb.model import write_manifest
    write_manifest(ck)
    assert main(['calibrate', '--checkpoint', str(ck), '--data', str(data)]) in (0, None)
    back = FiFaMLLM.from_pretrained(ck)
    cal = back.config.calibration
    assert cal['split'] == 'val' and cal['n'] >= 2 and np.isfinite([cal['a'], cal['b']]).all() and 0.5 <= cal['threshold'] <= 1
    assert (ck / 'README.md').read_text() == 'my card'
    with pytest.raises(SystemExit): main(['calibrate', '--checkpoint', str(ck), '--data', str(data), '--split', 'test'])   # never a test split

def test_every_backend_cuts_nearly_the_same_square():
    "dlib and the OpenCV fallback frame the sample faces alike (box IoU >= 0.7), within what training's crop jitter covers."
    from fifa_nb.landmarks import available_backends, detect_landmarks
    runnable = [b for b, why in available_backends().items() if why is None]
    if len(runnable) < 2: pytest.skip(f'only {runnable} can run here')
    def iou(a, b):
        ix, iy = max(0, min(a[2], b[2]) - max(a[0], b[0])), max(0, min(a[3], b[3]) - max(a[1], b[1]))
        return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy)
    for face in sample_faces():
        boxes = [face_box(detect_landmarks(face.image, backend=b)) for b in runnable]
        assert min(iou(boxes[0], b) for b in boxes[1:]) >= 0.7, (face.name, boxes)
