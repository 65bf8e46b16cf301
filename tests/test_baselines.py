"""The no-LLM baseline (12a): SegNet's shapes, answers to all 11 tasks that parse, save/load, and a training run that must learn."""
import json
import numpy as np
import pytest

torch = pytest.importorskip('torch')
from fifa_nb.core import FifaError, OutputExistsError
from fifa_nb.masks import rle_decode, mask_iou
from fifa_nb.landmarks import Landmarks
from fifa_nb.regions import concept_map
from fifa_nb.tasks import TASKS, SEG, REGION_TOKEN, parse_box, parse_verdict, parse_family
from fifa_nb.model import example_samples, Analysis, FAMILIES
from fifa_nb.baselines import (SegNet, SegNetConfig, MaskBaseline, train_segnet, training_images, image_batch, segnet_losses,
                               question_concept, grounded_explanation)

SMALL = SegNetConfig(widths=(8, 16, 32, 64, 128))   # the lesson's half-width net: fast on a CPU


@pytest.fixture(scope='module')
def samples(): return example_samples(n_fakes=6, size=128)

@pytest.fixture(scope='module')
def trained(samples): return train_segnet(samples, steps=100, batch_size=8, lr=3e-3, seed=0, config=SMALL, progress=False)

def _weights(m): return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_segnet_shapes_and_size():
    net = SegNet()
    n = sum(p.numel() for p in net.parameters())
    assert 0.5e6 <= n <= 2e6, n
    out = net(torch.randn(3, 3, 128, 128))
    assert out['mask_logits'].shape == (3, 128, 128) and out['det_logit'].shape == (3,)
    assert out['family_logits'].shape == (3, len(FAMILIES))
    assert SegNet(SMALL.widths)(torch.randn(1, 3, 64, 64))['mask_logits'].shape == (1, 64, 64)
    with pytest.raises(FifaError, match='multiple of 16'): net(torch.randn(1, 3, 120, 120))
    with pytest.raises(FifaError, match='multiple of 16'): MaskBaseline(SegNetConfig(image_size=100))


def test_training_images_one_per_item(samples):
    items = training_images(samples)
    assert len(items) == 8 and len({s.meta['item'] for s in items}) == 8
    no_artifact = [s for s in samples if s.meta['item'] != 'example-0'] + \
                  [type(s)(**{**s.__dict__, 'meta': {k: v for k, v in s.meta.items() if k != 'artifact'}}) for s in samples[:11]]
    assert len(training_images(no_artifact)) == 7   # an image without the annotator's mask is left out
    x, masks, det, fam = image_batch(items, [0, 6], [True, False])
    assert x.shape == (2, 3, 128, 128) and masks.shape == (2, 128, 128)
    assert det.tolist() == [1.0, 0.0] and fam.tolist() == [FAMILIES.index('attribute'), 0]
    assert masks[1].sum() == 0 and masks[0].sum() > 0


def test_training_is_deterministic(samples):
    a = _weights(train_segnet(samples, steps=3, batch_size=2, seed=1, config=SMALL, progress=False))
    b = _weights(train_segnet(samples, steps=3, batch_size=2, seed=1, config=SMALL, progress=False))
    c = _weights(train_segnet(samples, steps=3, batch_size=2, seed=2, config=SMALL, progress=False))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_dataset_rows_train_like_samples(samples):
    datasets = pytest.importorskip('datasets')
    ds = datasets.Dataset.from_list([s.to_dict() for s in samples])
    assert [s.meta['item'] for s in training_images(ds)] == [s.meta['item'] for s in training_images(samples)]
    a = _weights(train_segnet(ds, steps=2, batch_size=2, config=SMALL, progress=False))
    b = _weights(train_segnet(samples, steps=2, batch_size=2, config=SMALL, progress=False))
    assert all(torch.equal(a[k], b[k]) for k in a)   # PNG rows decode to the very same pixels


def _mask_loss(model, items):
    x, masks, det, fam = image_batch(items, range(len(items)), [False] * len(items), model.config.image_size)
    with torch.no_grad(): l = segnet_losses(model.net(x), masks, det, fam)
    return (l['bce'] + l['dice']).item()


def test_training_lowers_the_mask_loss(samples, trained):
    "100 steps on the 8 example faces: the mask loss on them falls well below the untrained net's, and the masks overlap the annotator's."
    items = training_images(samples)
    fresh = train_segnet(samples, steps=0, seed=0, config=SMALL, progress=False)   # the same initialisation, untrained
    before, after = _mask_loss(fresh, items), _mask_loss(trained, items)
    assert after < 0.85 * before, (before, after)
    assert trained.history[-1]['loss'] < trained.history[0]['loss']
    fakes = [s for s in items if s.labels['is_fake']]
    ious = [mask_iou(p > 0.5, rle_decode(s.meta['artifact'])) for s, (p, _, _) in zip(fakes, trained.predict([s.image_array for s in fakes]))]
    assert np.mean(ious) > 0.25, ious


def _forced(verdict):
    "An untrained baseline whose real/fake head always says `verdict`."
    torch.manual_seed(0)
    m = MaskBaseline(SMALL)
    with torch.no_grad(): m.net.det_head.bias.fill_(20.0 if verdict == 'fake' else -20.0)
    return m


def _check_answers(samples, answers, expect=None):
    assert [a.task for a in answers] == [s.task for s in samples] and {a.task for a in answers} == set(TASKS)
    for s, a in zip(samples, answers):
        shape = s.image_array.shape[:2]
        assert isinstance(a, Analysis) and a.verdict in ('real', 'fake') and 0 <= a.score <= 1 and a.family in FAMILIES
        assert (a.family == 'real') == (a.verdict == 'real') and a.verdict_source == 'head'
        if expect: assert a.verdict == expect
        assert a.raw_text.count(SEG) == len(a.segments) and '<p>' not in a.text and SEG not in a.text
        for g in a.segments:
            assert g.mask is not None and g.mask.dtype == bool and g.mask.shape == shape and g.mask.any(), (s.id, a.raw_text)
        assert a.pixel_map.shape == shape and 0 <= a.pixel_map.min() and a.pixel_map.max() <= 1
        if a.task == 'det': assert parse_verdict(a.text) == a.verdict
        if a.task == 'cls': assert parse_family(a.text) == a.family
        if a.task in ('region_det', 'box_det'): assert a.text.startswith(('Yes', 'No'))
        if a.task == 'box_pred':
            if a.verdict == 'fake': assert parse_box(a.text) is not None and a.box == parse_box(a.text, shape)
            else: assert a.text == 'None: the face is real.' and a.box is None
        if a.task in ('loc', 'region_seg', 'age'): assert bool(a.segments) == (a.verdict == 'fake') or a.task == 'region_seg'
        if a.task == 'age' and a.verdict == 'fake':
            cm = concept_map(Landmarks.from_dict(s.meta['landmarks']), shape)
            for g in a.segments: assert g.concept is not None and not (g.mask & ~cm.mask(g.concept)).any()
        if a.task == 'concept_seg':   # the near-oracle: the very mask the dataset drew from the same landmarks
            assert len(a.masks) == 1 and np.array_equal(a.masks[0], s.masks[0])


@pytest.mark.parametrize('which', ['fresh', 'trained', 'fake', 'real'])
def test_answers_for_every_task_parse(samples, trained, which):
    torch.manual_seed(0)
    model = dict(fresh=lambda: MaskBaseline(), trained=lambda: trained, fake=lambda: _forced('fake'), real=lambda: _forced('real'))[which]()
    answers = model.analyze_batch(samples, batch_size=7)
    _check_answers(samples, answers, expect=which if which in ('fake', 'real') else None)
    by_item = {}
    for s, a in zip(samples, answers): by_item.setdefault(s.meta['item'], []).append(a)
    for group in by_item.values():   # one reading per image, whatever the task (batches of 7 split an image's samples)
        assert max(a.score for a in group) - min(a.score for a in group) < 1e-4
        if which != 'fresh': assert len({(a.verdict, a.family) for a in group}) == 1   # (a fresh head sits at p = 0.5)
    if which == 'fake':   # region answers follow the predicted mask's share, not the question
        region = [a for a in answers if a.task == 'region_seg']
        assert all((SEG in a.raw_text) == a.text.startswith('The manipulated part') for a in region)


def test_single_answers_match_batched_ones(samples, trained):
    batched = trained.analyze_batch(samples[:22], batch_size=16)
    single = [trained.analyze_batch([s])[0] for s in samples[:22]]
    assert [a.raw_text for a in batched] == [a.raw_text for a in single]
    assert all(np.allclose(a.pixel_map, b.pixel_map, atol=1e-5) for a, b in zip(batched, single))


def test_plain_images_and_dict_queries(samples, trained):
    s = next(x for x in samples if x.task == 'region_seg')
    image, lm = s.image_array, s.meta['landmarks']
    box = next(x for x in samples if x.task == 'box_det' and x.meta['item'] == s.meta['item']).box
    queries = [dict(image=image, task=t, landmarks=lm) for t in ('det', 'cls', 'toe', 'loc', 'age')]
    same = {x.task: x for x in samples if x.meta['item'] == s.meta['item']}
    queries += [dict(image=image, question=same[t].question, region=same[t].region, task=t, landmarks=lm) for t in ('region_det', 'region_exp', 'region_seg')]
    queries += [dict(image=image, box=box, landmarks=Landmarks.from_dict(lm)), dict(image=image, task='box_pred', landmarks=lm),
                dict(image=image, question='Where is the nose? Answer with a mask.', task='concept_seg', landmarks=lm)]
    answers = trained.analyze_batch(queries)
    assert [a.task for a in answers] == list(TASKS)
    reference = trained.analyze_batch(list(same.values()))
    for a, r in zip(answers[:10], reference[:10]):   # the same image, landmarks and query: the answers the dataset samples get
        assert not a.warnings and a.raw_text == r.raw_text, (a.task, a.raw_text, r.raw_text)
    assert answers[-1].segments[0].concept == 'nose' and not answers[-1].warnings
    one = trained.analyze(image, region=s.region, task='region_det', landmarks=lm)   # no name in the question: named by overlap
    assert one.raw_text.startswith(('Yes', 'No'))
    detected = trained.analyze(image, task='age')   # landmarks detected, or a warning when no backend finds the face
    assert not detected.warnings or 'no landmarks' in detected.warnings[0]
    assert all(g.mask.shape == image.shape[:2] for g in detected.segments)
    # no face at all: answers still come, with a warning, and the explanation names the whole face
    blank = np.full((64, 64, 3), 128, np.uint8)
    region = np.zeros((64, 64), bool); region[10:30, 10:30] = True
    for t, kw in [('age', {}), ('loc', {}), ('region_exp', dict(region=region)), ('box_det', dict(box=(5, 5, 40, 40))), ('concept_seg', {})]:
        a = _forced('fake').analyze(blank, task=t, **kw)
        assert a.warnings and 'no landmarks' in a.warnings[0], (t, a.warnings)
        assert all(g.mask.shape == (64, 64) for g in a.segments)
    assert _forced('fake').analyze(blank, task='age').segments[0].concept == 'face'
    with pytest.raises(FifaError, match='needs a box'): trained.analyze_batch([s.__class__(**{**s.__dict__, 'task': 'box_det', 'region': None})])


def test_question_concept_and_explanation(samples):
    assert question_concept('Has the right eyebrow <region> been manipulated?') == 'right_eyebrow'
    assert question_concept("Explain what happened to the crow's-feet area beside the right eye <region>.") == 'right_crows_feet'
    assert question_concept('Show me the upper lip.') == 'upper_lip'
    assert question_concept('Is this face real or fake?') == 'face' and question_concept('Anything odd here?') is None
    s = next(x for x in samples if x.task == 'age' and x.meta['item'] == 'example-1')
    cm = concept_map(Landmarks.from_dict(s.meta['landmarks']), s.image_array.shape)
    text, segs = grounded_explanation(rle_decode(s.meta['artifact']), cm, 'region_swap')
    assert text.count(SEG) == len(segs) >= 1 and set(g.concept for g in segs) & set(s.concepts)
    assert grounded_explanation(np.zeros((128, 128), bool), cm) [1] == []


def test_save_load_round_trip_and_refusals(samples, trained, tmp_path):
    folder = trained.save_pretrained(tmp_path / 'segnet')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['segnet']   # no temporary folder left behind
    assert sorted(p.name for p in folder.iterdir()) == ['config.json', 'manifest.json', 'model.safetensors']
    cfg = json.loads((folder / 'config.json').read_text())
    assert cfg['format'] == 'fifa_nb.MaskBaseline/1' and cfg['widths'] == list(SMALL.widths) and cfg['train']['steps'] == 100
    loaded = MaskBaseline.from_pretrained(folder)
    a, b = trained.analyze_batch(samples), loaded.analyze_batch(samples)
    assert [x.raw_text for x in a] == [y.raw_text for y in b] and [x.score for x in a] == [y.score for y in b]
    assert all(np.array_equal(x.pixel_map, y.pixel_map) for x, y in zip(a, b))
    assert all(np.array_equal(g.mask, h.mask) for x, y in zip(a, b) for g, h in zip(x.segments, y.segments))
    assert loaded.train_info['steps'] == 100
    # no overwrite unless asked; overwrite replaces atomically
    with pytest.raises(OutputExistsError): trained.save_pretrained(folder)
    with pytest.raises(OutputExistsError): train_segnet(samples, folder, steps=1, config=SMALL, progress=False)
    other = train_segnet(samples, steps=1, config=SMALL, seed=5, progress=False)
    other.save_pretrained(folder, overwrite=True)
    assert torch.equal(MaskBaseline.from_pretrained(folder).net.mask_head.weight, other.net.mask_head.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['segnet']
    # train_segnet saves when given a folder
    saved = train_segnet(samples, tmp_path / 'run', steps=1, config=SMALL, progress=False)
    assert torch.equal(MaskBaseline.from_pretrained(tmp_path / 'run').net.det_head.weight, saved.net.det_head.weight)
    # pickles and foreign folders are refused
    bad = tmp_path / 'pickled'; bad.mkdir()
    (bad / 'config.json').write_text((folder / 'config.json').read_text())
    torch.save(trained.state_dict(), bad / 'model.pt')
    with pytest.raises(FifaError, match='refuses to unpickle'): MaskBaseline.from_pretrained(bad)
    (folder / 'config.json').write_text(json.dumps({**cfg, 'format': 'fifa_nb.FiFaMLLM/1'}))
    with pytest.raises(FifaError, match='config.json is .* bytes but manifest.json says'): MaskBaseline.from_pretrained(folder)
    from fifa_nb.model import write_manifest; write_manifest(folder)   # the files agree with the manifest again: the format tag decides
    with pytest.raises(FifaError, match='not a MaskBaseline'): MaskBaseline.from_pretrained(folder)
    with pytest.raises(FifaError, match='not a MaskBaseline checkpoint folder'): MaskBaseline.from_pretrained(tmp_path / 'missing')
