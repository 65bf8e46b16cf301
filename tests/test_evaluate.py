"""FiFa-Bench-mini (issue 5): the scorer gives the reference answers full marks, exposes a collapsed system, and writes results."""
import csv, json
import numpy as np
import pytest

pytest.importorskip('torch')
from fifa_nb.core import OutputExistsError
from fifa_nb.tasks import TASKS
from fifa_nb.model import example_samples, Analysis
from fifa_nb.evaluate import (score_task, evaluate, results_table, save_results, ReferenceSystem, ConstantSystem, parse_yes_no,
                              HEADLINE)


@pytest.fixture(scope='module')
def ex():
    return example_samples(n_fakes=5, size=128, seed=3) + example_samples(n_fakes=5, size=128, seed=4)


def test_reference_answers_score_full_marks(ex):
    res = evaluate({'ref': ReferenceSystem()}, {'ex': ex}, progress=False)['ref']['ex']
    assert set(TASKS) <= set(res)
    assert res['det']['bal_acc'] == res['det']['auc'] == res['det']['real_called_real'] == 1.0
    assert res['cls']['acc'] == 1.0
    assert res['toe']['bleu4'] == pytest.approx(1.0) and res['toe']['meteor_exact_stem'] > 0.99
    for t in ('loc', 'region_seg', 'concept_seg'): assert res[t]['giou'] == 1.0, t
    assert res['age']['miou'] == res['age']['recall50'] == res['age']['concept_f1'] == 1.0
    assert res['region_det']['acc'] == res['box_det']['acc'] == 1.0
    assert res['box_pred']['box_iou'] == pytest.approx(1.0, abs=1e-6)
    assert res['all']['sensitivity'] > 0.3


def test_a_collapsed_system_is_exposed(ex):
    res = evaluate({'c': ConstantSystem(ex)}, {'ex': ex}, progress=False)['c']['ex']
    assert res['all']['sensitivity'] == 0.0
    assert all(res[t]['distinct'] == 1 for t in TASKS if t in res)
    assert res['det']['bal_acc'] <= 0.5 and res['age']['miou'] == 0.0


def test_wrong_answers_lose_points(ex):
    dets = [s for s in ex if s.task == 'det']
    flipped = [Analysis(verdict='x', score=1.0 - float(s.labels['is_fake']), family=None,
                        text='The face is real.' if s.labels['is_fake'] else 'The face is fake.', segments=[],
                        raw_text='', task='det') for s in dets]
    r = score_task('det', dets, flipped)
    assert r['bal_acc'] == 0.0 and r['auc'] == 0.0 and r['real_called_real'] == 0.0
    assert parse_yes_no('Yes: the nose was edited.') is True and parse_yes_no('No, it looks real.') is False
    assert parse_yes_no('Maybe.') is None


def test_results_are_written_as_json_and_csv(ex, tmp_path):
    res = evaluate({'ref': ReferenceSystem()}, {'ex': ex[:30]}, progress=False)
    path = save_results(res, tmp_path / 'bench.json')
    data = json.loads(path.read_text())
    assert data['ref']['ex']['det']['bal_acc'] == 1.0 and '_analyses' not in data['ref']['ex']
    rows = list(csv.DictReader(open(tmp_path / 'bench.csv')))
    assert {'system', 'split', 'task', 'metric', 'value'} == set(rows[0]) and len(rows) > 20
    with pytest.raises(OutputExistsError): save_results(res, path)
    table = results_table(res)
    assert table.count('\n') == 2 and all(f'{t} {m}' in table for t, m in HEADLINE)


def test_small_subsets_do_not_crash(ex):
    "A quick run can hold one det sample, a real one, answered with no verdict: F1 of 'fake' is then undefined, not an error."
    real = [s for s in ex if s.task == 'det' and not s.labels['is_fake']][:1]
    mute = [Analysis(verdict='real', score=None, family=None, text='Hmm.', segments=[], raw_text='Hmm.', task='det')]
    r = score_task('det', real, mute)
    assert r['bal_acc'] == 0.0 and np.isnan(r['f1_fake']) and 'auc' not in r and r['real_called_real'] == 0.0


def test_malformed_answers_score_zero_not_crash(ex):
    "A reversed or empty box, a verdict-free text: wrong answers with a score, never an exception."
    from fifa_nb.tasks import parse_box
    boxes = [s for s in ex if s.task == 'box_pred' and parse_box(s.answer) is not None]
    assert boxes
    bad = [Analysis(verdict='fake', score=0.5, family=None, text=t, segments=[], raw_text=t, task='box_pred', question=s.question)
           for s, t in zip(boxes, ['The box is [600, 500, 400, 300].', 'The box is [10, 10, 10, 10].'] * len(boxes))]
    r = score_task('box_pred', boxes, bad)
    assert r['box_iou'] == 0.0 and r['acc50'] == 0.0
    fam = evaluate({'const': ConstantSystem(ex)}, {'ex': ex}, progress=False)['const']['ex']['by_family']
    assert fam['real_det_acc'] == 0.0 and fam['real_det_n'] > 0
