"""The instructor lab's checks (fifa_nb.lab): each rejects a wrong answer, accepts a right one, and raises only on unusable input."""
import pytest
from fifa_nb.core import FifaError, sample_face
from fifa_nb.concepts import FICT
from fifa_nb.forgery import make_forgery
from fifa_nb import lab
from fifa_nb.demo import find_face

torch = pytest.importorskip('torch')

def dice(pred_logits, target, smooth=1.0, sigmoid=True):
    p = torch.sigmoid(pred_logits) if sigmoid else pred_logits
    inter = (p * target).sum((1, 2))
    return (1 - (2 * inter + smooth) / (p.sum((1, 2)) + target.sum((1, 2)) + smooth)).mean()

def test_check_dice(capsys):
    assert lab.check_dice(dice)
    assert not lab.check_dice(lambda p, t: dice(p, t, sigmoid=False))
    assert 'no sigmoid' in capsys.readouterr().out
    assert not lab.check_dice(lambda p, t: dice(p, t).item(), verbose=False)        # a float: no tensor, no gradient
    assert not lab.check_dice(lambda p, t: dice(p.detach(), t), verbose=False)      # right values, no gradient
    assert not lab.check_dice(lambda p, t: 1 / 0, verbose=False)                    # raising is a wrong answer, not an error
    with pytest.raises(FifaError, match='needs the function'): lab.check_dice(dice(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)))

def test_check_threshold():
    assert lab.check_threshold('hysteresis', verbose=False)
    assert not lab.check_threshold('top5', verbose=False)      # calls every real pair fake
    assert not lab.check_threshold(2.0, verbose=False)         # too low: real pairs called fake
    assert not lab.check_threshold(30.0, verbose=False)        # too high: misses the edits
    assert not lab.check_threshold('median', verbose=False)
    assert not lab.check_threshold(-1, verbose=False)
    with pytest.raises(FifaError, match='rule name'): lab.check_threshold([5.0])
    scores = lab.threshold_scores(6.0)
    assert 0 <= scores['mean_iou'] <= 1 and scores['n_real'] == 10 and len(scores['iou']) == 10

def test_check_naming_rule():
    from fifa_nb.concepts import select_concepts
    assert lab.check_naming_rule(lambda cov: select_concepts(cov)[::-1], verbose=False)   # order does not matter
    assert not lab.check_naming_rule(lambda cov: [n for n, s in cov.items() if s >= 0.15], verbose=False)
    assert not lab.check_naming_rule(lambda cov: select_concepts({n: s for n, s in cov.items() if s > 0.15}), verbose=False)   # > instead of >=
    assert not lab.check_naming_rule(lambda cov: 'left_eye', verbose=False)               # a string, not a list
    with pytest.raises(FifaError): lab.check_naming_rule(None)

@pytest.fixture(scope='module')
def smoothing_report():
    pytest.importorskip('transformers')
    from fifa_nb.model import FiFaMLLM
    model = FiFaMLLM.from_pretrained('small')
    face = sample_face('astronaut')
    fake = find_face(make_forgery(face.image, face.landmarks, 'skin_smooth', seed=0).fake, landmarks=face.landmarks).image
    report = dict(image=fake, real_image=find_face(face.image, landmarks=face.landmarks).image, expected='fake', got=model.analyze(fake),
                  description='astronaut, skin_smooth, seed 0, no post-processing',
                  why='The model sees 128 pixels, where the smoothed skin texture is finer than a pixel, so nothing tells it apart from real skin.')
    return model, face, report

def test_check_failure_report(smoothing_report):
    model, face, report = smoothing_report
    assert report['got'].verdict == 'real'    # the shipped model misses this smoothing
    assert lab.check_failure_report(report, model, verbose=False)
    lips = find_face(make_forgery(face.image, face.landmarks, 'lip_recolor', seed=0).fake, landmarks=face.landmarks).image
    from dataclasses import replace
    invented = replace(report['got'], verdict='fake' if report['got'].verdict == 'real' else 'real', text='Something the model never said.')
    assert not lab.check_failure_report({**report, 'got': invented}, model, verbose=False)                       # a claim the model does not make
    real = report['real_image']
    assert not lab.check_failure_report({**report, 'image': real, 'got': model.analyze(real), 'expected': 'real'}, model, verbose=False)  # the model is right
    assert not lab.check_failure_report({**report, 'why': 'It is hard.'}, model, verbose=False)
    assert not lab.check_failure_report({k: v for k, v in report.items() if k != 'got'}, model, verbose=False)
    assert not lab.check_failure_report({**report, 'image': report['real_image']}, model, verbose=False)         # "fake" but unedited
    wrong_place = {**report, 'image': lips, 'got': model.analyze(lips), 'expected': dict(verdict='fake', concepts=['left_eye'])}
    assert lab.check_failure_report(wrong_place, model, verbose=False) == (
        not {a.name for s in wrong_place['got'].segments if s.concept for a in FICT.atomic_under(s.concept)} & {a.name for a in FICT.atomic_under('left_eye')})
    with pytest.raises(FifaError, match='needs a dict'): lab.check_failure_report([report])
