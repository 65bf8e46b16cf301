"""FiFa-11 samples (fifa_nb.tasks) and the dataset build (fifa_nb.dataset): consistent answers, clean splits, round trips, resuming."""
import json, shutil
from dataclasses import replace

import numpy as np
import pytest

from fifa_nb.core import FifaError, OutputExistsError
from fifa_nb.samples import sample_faces
from fifa_nb.concepts import FICT
from fifa_nb.masks import box_to_mask, mask_to_box
from fifa_nb.forgery import make_forgery
from fifa_nb.variants import innocent_edit
from fifa_nb.annotator import annotate, age_phrases, plain_text
from fifa_nb.tasks import (BUILDERS, LABEL_TASKS, POSITIVE_SHARE, SEG, TASKS, AnnotatedImage, Sample, normalize_box, parse_box,
                           parse_family, parse_verdict, task_samples)

datasets = pytest.importorskip('datasets')
from fifa_nb.dataset import OOD_METHODS, SPLITS, _POOL, build_dataset, load_fifa11, plan_identities, plan_items, portrait_face
from fifa_nb.forgery import TRAIN_ONLY_METHODS

ASTRONAUT, HOPPER = sample_faces()

@pytest.fixture(scope='module')
def sources():
    "256 px face crops of annotated images: a fake of each family, a real photo and an innocently edited one."
    out = []
    for i, m in enumerate(['lip_recolor', 'swap_nose', 'face_swap_feather', 'mouth_open']):
        target, donor = (HOPPER, ASTRONAUT) if i % 2 else (ASTRONAUT, HOPPER)
        f = make_forgery(target.image, target.landmarks, m, donor=donor, seed=i + 3, postprocess=[{'op': 'jpeg', 'quality': 90}])
        ann = annotate(f.real, f.fake, target.landmarks, family=f.family, method=m, seed=i)
        out.append(AnnotatedImage.from_forgery(f, ann).face_crop(256))
    img, lm, _ = innocent_edit(HOPPER.image, HOPPER.landmarks, seed=2)
    out.append(AnnotatedImage.real(img, lm, annotate(img, img, lm)).face_crop(256))
    out.append(AnnotatedImage.real(ASTRONAUT.image, ASTRONAUT.landmarks, annotate(ASTRONAUT.image, ASTRONAUT.image, ASTRONAUT.landmarks)).face_crop(256))
    return out

def test_sources_are_what_they_claim(sources):
    assert [s.labels['is_fake'] for s in sources] == [True] * 4 + [False] * 2
    assert all(s.image.shape == (256, 256, 3) for s in sources)
    assert all(s.consistent for s in sources), [s.annotation.verdict for s in sources]   # these four fakes are found

@pytest.mark.parametrize('task', TASKS)
def test_every_builder_on_fakes_and_reals(sources, task):
    for src in sources:
        for seed in range(3):
            s = BUILDERS[task](src, seed).check()
            assert s.task == task and s.answer.count(SEG) == len(s.masks)
            assert all(m.shape == src.image.shape[:2] and m.any() for m in s.masks)
            assert s.labels == src.labels

def test_answers_agree_with_the_annotation(sources):
    for src in sources:
        ann, shape = src.annotation, src.image.shape[:2]
        for seed in range(4):
            t = {s.task: s for s in task_samples(src, seed, 'train', 'x')}
            assert list(t) == list(TASKS) and all(s.id == f'x/{k}' and s.split == 'train' for k, s in t.items())
            assert parse_verdict(t['det'].answer) == ('fake' if src.labels['is_fake'] else 'real')
            assert parse_family(t['cls'].answer) == (src.labels['family'] or 'real')
            assert t['toe'].answer == plain_text(ann.text) and SEG not in t['toe'].answer and '<p>' not in t['toe'].answer
            assert t['age'].answer == ann.text and len(t['age'].masks) == len(age_phrases(ann.text)) == len(ann.concepts)
            for mask, seg in zip(t['age'].masks, ann.age): assert (mask == seg.mask).all()
            assert len(t['loc'].masks) == int(ann.is_fake)
            for task in ('region_det', 'region_exp', 'region_seg'):   # the answer agrees with the artifact's overlap
                s = t[task]
                share = (s.region & ann.artifact_mask).sum() / s.region.sum()
                assert s.meta['positive'] == (share >= POSITIVE_SHARE) and (s.meta['positive'] or share == 0)
                assert s.meta['query'] == s.concepts[0] and FICT[s.concepts[0]].phrase in s.question and '<region>' in s.question
            assert t['region_det'].answer.startswith('Yes') == t['region_det'].meta['positive']
            if t['region_seg'].meta['positive']: assert (t['region_seg'].masks[0] == (ann.artifact_mask & t['region_seg'].region)).all()
            if t['region_exp'].meta['positive']: assert t['region_exp'].masks and all((m & ann.artifact_mask).any() for m in t['region_exp'].masks)
            else: assert not t['region_exp'].masks and 'real' in t['region_exp'].answer
            bd = t['box_det']
            assert bd.answer.startswith('Yes') == bd.meta['positive'] == bool((box_to_mask(bd.box, shape) & ann.artifact_mask).any())
            assert parse_box(bd.question) == normalize_box(bd.box, shape)
            want = normalize_box(mask_to_box(ann.artifact_mask), shape) if ann.is_fake else None
            assert parse_box(t['box_pred'].answer) == want
            cs = t['concept_seg']
            assert (cs.masks[0] == src.node_masks[cs.concepts[0]]).all() and age_phrases(cs.answer)[0][1] == cs.concepts[0]

def _states_family(text): return 'It looks like' in text   # the annotator's family sentence (write_explanation)

def test_every_answer_names_its_own_family(sources):
    "Every template that states a family reads back as that family; an answer that states none reads as None (fake) or 'real'."
    from fifa_nb import tasks as T
    from fifa_nb.annotator import write_explanation
    for fam, phrase in T.FAMILY_PHRASES.items():   # Cls answers
        for t in T._CLS[True]: assert parse_family(t.format(family=phrase, Family=T._cap(phrase))) == fam, t
    for t in T._CLS[False] + T._DET[False] + T._NO_ARTIFACT + T._BOX_NONE: assert parse_family(t) == 'real', t
    named = [('left_eye', [('darker', 3.0)]), ('mouth', [('seam', 2.0), ('redder', 1.0)]), ('cheeks', [])]
    for fam in T.FAMILY_PHRASES:   # AGE and TOE answers: the annotator's text, with and without its family sentence
        stated = 0
        for seed in range(40):
            text = write_explanation(named[:1 + seed % 3], fam, seed)
            want = fam if _states_family(text) else None   # 'Traces of editing are visible' names no family
            stated += want is not None
            assert parse_family(text) == parse_family(plain_text(text)) == want, (fam, text)
        assert 10 <= stated < 40, stated   # both cases were rendered
    for seed in range(12): assert parse_family(write_explanation([], None, seed)) == 'real'   # every real face's text
    for src in sources:   # and the samples themselves
        fam = src.labels['family'] or 'real'
        for seed in range(4):
            t = {s.task: s for s in task_samples(src, seed)}
            assert parse_family(t['cls'].answer) == fam
            for task in ('toe', 'age'):
                assert parse_family(t[task].answer) == (fam if fam == 'real' or _states_family(t[task].answer) else None), t[task].answer

def test_parse_family_reads_names_not_loose_words():
    assert parse_family('Traces of editing are visible on this face.') is None          # 'editing' alone is no attribute edit
    assert parse_family('The face shows no sign of editing.') == 'real'
    assert parse_family('It looks like an attribute edit. The mouth shows a region swap.') == 'attribute'   # the first name wins
    assert parse_family('REGION SWAPS everywhere') == 'region_swap'
    assert parse_family('an identity swapper') is None                                    # whole words only
    assert parse_family('The manipulation is an expression change.') == 'expression'
    assert parse_family('') is None
    with pytest.raises(FifaError): parse_family(None)

def test_the_model_fallback_answers_name_their_family():
    pytest.importorskip('torch')
    from fifa_nb.tasks import FAMILY_PHRASES
    from fifa_nb import decoding as M   # where the model's fallback answers live (fifa_nb.model re-exports the public names)
    for fam in FAMILY_PHRASES: assert parse_family(M._fake_answer('cls', fam)) == fam
    for task, text in M._REAL_ANSWER.items(): assert parse_family(text) == 'real', task

def test_reals_are_only_asked_about_untouched_regions(sources):
    for src in sources[4:]:
        for seed in range(6):
            assert not any(s.meta.get('positive') for s in task_samples(src, seed)) and not any(s.masks for s in task_samples(src, seed)
                                                                                                 if s.task != 'concept_seg')

def test_fakes_get_both_kinds_of_query(sources):
    pos = [s.meta['positive'] for src in sources[:4] for seed in range(8) for s in task_samples(src, seed) if 'positive' in s.meta]
    assert 0.3 < np.mean(pos) < 0.95

def test_a_missed_fake_gets_label_tasks_only(sources):
    src = sources[0]
    nothing = replace(src.annotation, verdict='real', concepts=[], concept_masks={}, text='No manipulation found.',
                      artifact_mask=np.zeros(src.image.shape[:2], bool))
    missed = AnnotatedImage(src.image, nothing, src.landmarks, dict(src.labels))
    assert not missed.consistent and [s.task for s in task_samples(missed)] == list(LABEL_TASKS)
    with pytest.raises(FifaError, match='only det, cls'): BUILDERS['age'](missed)

def test_sample_round_trip(sources):
    for src in (sources[1], sources[5]):
        for s in task_samples(src, 5, 'val', 'item-1'):
            d = s.to_dict()
            json.dumps({k: v for k, v in d.items() if k != 'image'})      # everything but the PNG bytes is JSON
            t = Sample.from_dict(d)
            assert (t.image == s.image).all() and len(t.masks) == len(s.masks) and all((a == b).all() for a, b in zip(t.masks, s.masks))
            assert (t.region is None) == (s.region is None) and (s.region is None or (t.region == s.region).all())
            assert (t.id, t.task, t.split, t.question, t.answer, t.box, t.labels, t.concepts, t.meta) == \
                   (s.id, s.task, s.split, s.question, s.answer, s.box, s.labels, s.concepts, s.meta)

def test_check_catches_inconsistent_samples(sources):
    s = BUILDERS['age'](sources[0], 0)
    with pytest.raises(FifaError, match=r'\[SEG\]'): replace(s, masks=s.masks[:-1]).check()
    with pytest.raises(FifaError, match='region query'): replace(s, region=np.ones(sources[0].image.shape[:2], bool)).check()
    with pytest.raises(FifaError, match='Unknown task'): Sample('x', 'vqa', '', s.image, 'q', 'a')

# ---- the dataset -------------------------------------------------------------------------------------------------

def test_plan_splits_are_clean():
    "Person-disjoint: every item draws its person (and donor) from its split's people; the sample people are never trained on."
    ids = plan_identities(300, 3)
    split_of = {i['key']: i['split'] for i in ids}
    assert {k for k, v in split_of.items() if v == 'unseen_person'} == {'astronaut', 'grace_hopper'}
    assert len([k for k in split_of if k.startswith('congress/')]) >= 700 and {'train', 'val', 'test'} <= set(split_of.values())
    items = plan_items(300, 3, ids)
    assert {i['split'] for i in items} == set(SPLITS) and plan_items(300, 3, ids) == items
    for it in items:
        assert split_of[it['identity']] == _POOL[it['split']]
        if it['donor']: assert split_of[it['donor']] == ('test' if it['split'] == 'test_unseen_person' else _POOL[it['split']])
        assert (it['method'] in OOD_METHODS) == (it['kind'] == 'fake' and it['split'] == 'test_ood')
        assert (it['method'] in TRAIN_ONLY_METHODS) <= (it['split'] == 'train')       # self-blends train only
        assert bool(it['render']) <= (it['split'] in ('test_rerendered_real', 'test_unseen_person') and it['kind'] == 'real')
    for s in SPLITS:
        assert {i['kind'] for i in items if i['split'] == s} == ({'real'} if s == 'test_rerendered_real' else {'real', 'fake'})
    assert any(i['method'] == 'self_blend' for i in items)
    assert all(i['render'] for i in items if i['split'] == 'test_rerendered_real')

@pytest.fixture(scope='module')
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp('fifa11') / 'n36'
    manifest = build_dataset(out, n=36, seed=5, num_proc=2, shard_items=12, progress=False)
    return out, manifest

def test_dataset_loads_back_with_datasets(built, tmp_path):
    out, manifest = built
    assert manifest['complete'] and (out / 'fifa11.json').exists() and not (out / '_work').exists()
    arrow = datasets.load_from_disk(str(out / 'arrow'))
    parquet = datasets.load_dataset('parquet', data_files={s: str(out / 'parquet' / f'{s}.parquet') for s in SPLITS}, cache_dir=str(tmp_path))
    assert sorted(arrow) == sorted(parquet) == sorted(SPLITS)
    assert sum(len(arrow[s]) for s in SPLITS) == manifest['samples']
    for s in SPLITS:
        assert len(arrow[s]) == len(parquet[s]) == manifest['splits'][s]['samples'] > 0
        assert set(arrow[s]['task']) == set(TASKS), s                  # every task in every split
        assert arrow[s].select_columns(['id', 'answer']).to_dict() == parquet[s].select_columns(['id', 'answer']).to_dict()
        for row in parquet[s].select(range(0, len(parquet[s]), 7)):
            smp = Sample.from_dict(row).check()
            assert smp.split == s and smp.image.shape == (256, 256, 3)

def test_dataset_split_hygiene(built):
    "No person crosses splits: train people appear nowhere else, val people nowhere else; provenance is recorded."
    out, manifest = built
    rows, ds = [], load_fifa11(out)
    for s in SPLITS:
        cols = ds[s].select_columns(['meta', 'labels']).to_dict()
        rows += [dict(json.loads(m), split=s, labels=l) for m, l in zip(cols['meta'], cols['labels'])]
    ids = {s: {x for r in rows if r['split'] == s for x in (r['identity'], r['donor']) if x} for s in SPLITS}
    others = lambda *names: set().union(*(ids[s] for s in SPLITS if s not in names))
    assert ids['train'] and not ids['train'] & others('train')
    assert ids['val'] and not ids['val'] & others('val')
    assert {r['identity'] for r in rows if r['split'] == 'test_unseen_person'} <= {'astronaut', 'grace_hopper'}
    assert not {'astronaut', 'grace_hopper'} & (ids['train'] | ids['val'] | ids['test'])
    methods = {s: {r['labels']['method'] for r in rows if r['split'] == s and r['labels']['is_fake']} for s in SPLITS}
    assert methods['test_ood'] and methods['test_ood'] <= set(OOD_METHODS)
    assert not set(OOD_METHODS) & (methods['train'] | methods['val'] | methods['test'])
    assert not methods['test_rerendered_real'] and all(r['render'] for r in rows if r['split'] == 'test_rerendered_real')
    for s in SPLITS: assert manifest['splits'][s]['identities'] == sorted(ids[s])
    for r in rows:   # every portrait sample says where its photo came from and under which licence
        if r['identity'].startswith('congress/'):
            p = r['provenance']
            assert p['file'].startswith('faces/congress/') and 'public domain' in p['licence'] and p['source']

def test_portraits_ship_with_their_facts():
    from fifa_nb.dataset import portraits_dir, portrait_people
    folder = portraits_dir()
    assert (folder / 'README.md').exists() and (folder / 'faces.csv').exists()
    assert 'public domain' in (folder / 'README.md').read_text().lower()
    people = portrait_people()
    assert len(people) >= 700 and len(set(people)) == len(people)
    image, lm, prov = portrait_face(people[0])
    assert image.ndim == 3 and lm.layout == 'ibug68' and tuple(lm.image_size) == image.shape[:2]

def test_resume_after_interruption(tmp_path):
    out = tmp_path / 'resume'
    first = build_dataset(out, n=24, seed=2, shard_items=8, max_shards=2, progress=False)   # 'interrupted' after 2 of 3 shards
    assert (first['complete'], first['shards_done'], first['shards_total']) == (False, 2, 3)
    shards = out / '_work' / 'shards'
    kept = {p.name: p.stat().st_mtime_ns for p in (shards / '00001').iterdir()}
    shutil.rmtree(shards / '00000')                                                        # and a shard lost
    (shards / '.tmp-00002').mkdir()                                                        # a half-written shard
    with pytest.raises(FifaError, match='unfinished build with other settings'): build_dataset(out, n=24, seed=3, shard_items=8, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (shards / '00001').iterdir()} == kept
    done = build_dataset(out, n=24, seed=2, shard_items=8, progress=False)
    assert done['complete'] and done['shards_built'] == 2                                  # shards 0 and 2 only
    fresh = build_dataset(tmp_path / 'fresh', n=24, seed=2, shard_items=24, num_proc=2, progress=False)
    a, b = load_fifa11(out), load_fifa11(tmp_path / 'fresh')
    for s in SPLITS:   # the same rows whatever the history, shard size or number of processes
        assert a[s].select_columns(['id', 'question', 'answer', 'meta']).to_dict() == b[s].select_columns(['id', 'question', 'answer', 'meta']).to_dict()
    assert done['splits'] == fresh['splits']

def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / 'd'
    build_dataset(out, n=12, seed=0, progress=False)
    with pytest.raises(OutputExistsError, match='already holds a FiFa-11 dataset'): build_dataset(out, n=12, seed=0, progress=False)
    (out / 'marker').write_text('mine')   # a file the build did not write: the folder is no longer only a build
    with pytest.raises(FifaError, match='does not write .marker.'): build_dataset(out, n=12, seed=1, overwrite=True, progress=False)
    assert (out / 'marker').read_text() == 'mine' and (out / 'fifa11.json').exists()
    (out / 'marker').unlink()
    again = build_dataset(out, n=12, seed=1, overwrite=True, progress=False)
    assert again['complete'] and again['config']['seed'] == 1
    mine = tmp_path / 'mine'; mine.mkdir(); (mine / 'thesis.tex').write_text('precious')
    with pytest.raises(FifaError, match='does not write'): build_dataset(mine, n=12, overwrite=True, progress=False)
    assert (mine / 'thesis.tex').read_text() == 'precious'
    for bad in (dict(n=5), dict(n=12, seed=-1), dict(n=12, num_proc=0), dict(n=12, size=10)):
        with pytest.raises(FifaError): build_dataset(tmp_path / 'bad', progress=False, **bad)
    with pytest.raises(FifaError, match='no finished FiFa-11'): load_fifa11(tmp_path / 'bad')


def test_build_data_in_parts_from_the_command_line(tmp_path, capsys):
    "Two 'machines' (one gets no shard at all), then merge-data: a loadable dataset; a part is resumed, never rebuilt."
    from fifa_nb.cli import main
    base = ['build-data', '--n', '12', '--shard-items', '12', '--quiet', '--num-shards', '2']
    assert main(base + ['--out', str(tmp_path / 'p0'), '--shard-index', '0']) == 0
    assert main(base + ['--out', str(tmp_path / 'p1'), '--shard-index', '1']) == 0
    assert 'wrote part 1 of 2' in capsys.readouterr().out
    stamp = (tmp_path / 'p0' / 'fifa11.part.json').stat().st_mtime_ns
    assert main(base + ['--out', str(tmp_path / 'p0'), '--shard-index', '0']) == 0   # finished: its shard is not built again
    assert json.loads((tmp_path / 'p0' / 'fifa11.part.json').read_text())['shards_built'] == 0
    assert main(['merge-data', '--out', str(tmp_path / 'd'), '--quiet', str(tmp_path / 'p1'), str(tmp_path / 'p0')]) == 0
    assert sum(len(v) for v in load_fifa11(tmp_path / 'd').values()) == json.loads((tmp_path / 'd' / 'fifa11.json').read_text())['samples']
    assert main(['merge-data', '--out', str(tmp_path / 'e'), str(tmp_path / 'p1')]) == 1   # part 0 missing: one line, exit 1
    assert 'Part(s) 0 of 2 are missing' in capsys.readouterr().err


def test_a_member_with_two_portrait_files_is_one_person():
    "Seven members appear twice (the same photo under two ids): one person in one split, the most-trained of the two."
    from fifa_nb.dataset import plan_identities, portraits_dir, _portrait_index
    index = _portrait_index(str(portraits_dir()))
    for seed in (0, 1):
        ids = [i for i in plan_identities(200, seed) if i['source'] == 'congress']
        who = [(index[i['key'].split('/')[1] + '.jpg']['who']['name'], index[i['key'].split('/')[1] + '.jpg']['who']['born']) for i in ids]
        assert len(who) == len(set(who)), seed
    split = {i['key']: i['split'] for i in plan_identities(200, 0)}
    assert split['congress/020901'] == 'train' and 'congress/090901' not in split   # GRIFFITH: train and test under the old plan
