"""The annotator refuses a pair that is no aligned edit (issue 20, item 4): black, grey, noise, a negative, the mirrored
photo, another person, a shifted or rotated copy, another size give a NotAlignedError that says what was found, never a
silent 'real'; forgeries of every family, post-processed, are still annotated as before."""
import cv2
import numpy as np
import pytest

from fifa_nb.core import FifaError, save_image
from fifa_nb.samples import sample_faces
from fifa_nb.annotator import NotAlignedError, alignment_check, annotate
from fifa_nb.alignment import attacks_on, fit_to
from fifa_nb.dataset import portrait_people, portrait_face
from fifa_nb.forgery import make_forgery, postprocess


def small(face, side=256):
    "A sample person at `side` px wide (the check does not depend on the size; the tests run four times faster)."
    k = side / face.image.shape[1]
    img = cv2.resize(face.image, (side, round(face.image.shape[0] * k)), interpolation=cv2.INTER_AREA)
    return img, face.landmarks.scaled((img.shape[1] / face.image.shape[1], img.shape[0] / face.image.shape[0]))

ASTRO, HOPPER = (small(f) for f in sample_faces())

def attack(name, img, other):
    "One picture of the same size that is no edit of `img` (the lesson's `attacks_on`, plus a mirrored copy saved as JPEG)."
    if name == 'mirrored_jpeg': return postprocess(attack('mirrored', img, other), [{'op': 'jpeg', 'quality': 70}])
    lesson = {'negative': '255 - real', 'another_person': 'another person', 'shifted_10pct': 'shifted 10%', 'rotated_10deg': 'rotated 10°'}
    return attacks_on(img, other)[lesson.get(name, name)]

ATTACKS = ['black', 'grey', 'noise', 'negative', 'mirrored', 'mirrored_jpeg', 'another_person', 'shifted_10pct', 'rotated_10deg']
SAYS = {'black': 'almost blank', 'grey': 'almost blank', 'negative': 'negative'}

@pytest.mark.parametrize('name', ATTACKS)
@pytest.mark.parametrize('who', ['astronaut', 'grace_hopper'])
def test_attacks_are_refused_not_called_real(name, who):
    (img, lm), other = (ASTRO, HOPPER[0]) if who == 'astronaut' else (HOPPER, ASTRO[0])
    with pytest.raises(NotAlignedError, match=SAYS.get(name, "does not keep the real's edges")) as e:
        annotate(img, attack(name, img, other), lm)
    assert str(e.value).startswith('Not an aligned (real, fake) pair') and 'check_aligned=False' in str(e.value)

def test_two_portraits_of_the_same_size_are_refused():
    people = portrait_people()
    (a, lm, _), (b, _, _) = portrait_face(people[10]), portrait_face(people[20])
    with pytest.raises(NotAlignedError, match='a different photo, person or framing'): annotate(a, fit_to(b, a.shape), lm)

def test_another_size_is_a_clear_error():
    img, lm = ASTRO
    with pytest.raises(FifaError, match='resize the fake to the real image first') as e: annotate(img, img[:-8], lm)
    assert isinstance(e.value, NotAlignedError)
    with pytest.raises(NotAlignedError, match='256x'): alignment_check(img, img[:, :-8])

def _graded(img):   # more saturation, gamma 0.8, a warm cast: a colour grade, no edit
    grey = img.mean(-1, keepdims=True) / 255
    return np.clip(255 * np.clip(grey + 1.3 * (img / 255 - grey), 0, 1) ** 0.8 * [1.05, 1.0, 0.92], 0, 255).astype(np.uint8)

LEGIT = [('astronaut', 'lip_recolor', [{'op': 'jpeg', 'quality': 60}]),
         ('grace_hopper', 'swap_nose', [{'op': 'resize', 'scale': 0.5}, {'op': 'jpeg', 'quality': 75}]),
         ('astronaut', 'face_swap_poisson', [{'op': 'noise', 'sigma': 4}]),
         ('grace_hopper', 'self_blend', [{'op': 'blur', 'sigma': 1.2}]),
         ('astronaut', 'mouth_open', 'graded')]

@pytest.mark.parametrize('who, method, post', LEGIT, ids=[m for _, m, _ in LEGIT])
def test_forgeries_are_still_annotated(who, method, post):
    (img, lm), donor = (ASTRO, HOPPER) if who == 'astronaut' else (HOPPER, ASTRO)
    f = make_forgery(img, lm, method, donor=(*donor, 'donor'), seed=3)
    fake = _graded(f.fake) if post == 'graded' else postprocess(f.fake, post, 3)
    check = alignment_check(img, fake, scale=None)
    assert check['aligned'] and check['picture_agreement'] > 0.8, check
    assert annotate(img, fake, lm).verdict == 'fake'   # the check only ever raises: a pair it lets through keeps its old answer

def test_real_pairs_pass_and_experts_can_skip_the_check():
    img, lm = ASTRO
    for edited in (postprocess(img, [{'op': 'jpeg', 'quality': 50}]), postprocess(img, [{'op': 'noise', 'sigma': 4}], 1), _graded(img)):
        assert annotate(img, edited, lm).verdict == 'real'
    assert annotate(img, img[:, ::-1].copy(), lm, check_aligned=False).verdict in ('real', 'fake')   # no refusal: the expert's choice

def test_annotate_folder_records_the_refusal(tmp_path):
    from fifa_nb.batch import annotate_folder
    astro = sample_faces()[0]   # full size: the folder job finds the face itself
    img, lm = astro.image, astro.landmarks
    f = make_forgery(img, lm, 'lip_recolor', seed=0)
    save_image(f.real, tmp_path / 'good_real.png'); save_image(f.fake, tmp_path / 'good_fake.png')
    save_image(img, tmp_path / 'mirror_real.png'); save_image(img[:, ::-1].copy(), tmp_path / 'mirror_fake.png')
    s = annotate_folder(tmp_path, tmp_path / 'out', progress=False)
    assert list(s['annotations']) == ['good'], s['errors']
    assert s['errors']['mirror'].startswith('Not an aligned (real, fake) pair')
