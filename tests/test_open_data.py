"""FiFa-11 from your own photos and from public corpora (fifa_nb.open_data, issue 15 items 1 and 2).

Fixtures only, no network: a folder of photos made from the bundled portraits (`make_demo_photos`), and the corpus
look-alikes of `make_corpus_fixtures` (FF++ widened to three pairs of people by copying its videos under new ids).
Checked: person-disjoint splits, provenance and licence in the rows, resume from the cached index, a changed folder,
shards + merge, the corpus truth masks as gt_mask, rejections with reasons, bad inputs and the command line.
"""
import json, shutil, warnings
from pathlib import Path

import pytest

pytest.importorskip('datasets')
from fifa_nb.core import FifaError
from fifa_nb.tasks import Sample
from fifa_nb.dataset import SPLITS, OOD_METHODS, build_dataset, load_fifa11
from fifa_nb.parts import merge_parts
from fifa_nb.faces import make_demo_photos
from fifa_nb.corpus_fixtures import make_corpus_fixtures
from fifa_nb import open_data as OD
from fifa_nb.cli import main

LICENCE = 'public domain (US federal portraits), test'


def _dlib():
    from fifa_nb.face_checks import _face_models
    try: _face_models()
    except FifaError as e: pytest.skip(f'dlib is not available: {e}')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    _dlib()
    folder = tmp_path_factory.mktemp('open_data') / 'photos'
    make_demo_photos(folder, n_people=10, n_varied=2)
    return folder


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    return make_corpus_fixtures(tmp_path_factory.mktemp('open_data_corpora') / 'fixtures')


def rows_of(out):
    data = load_fifa11(out)
    return [Sample.from_dict(r) for s in SPLITS for r in data[s]]


def people_by_split(rows):
    return {s: {x for r in rows if r.split == s for x in (r.meta['identity'], r.meta['donor']) if x} for s in SPLITS}


def assert_person_disjoint(rows, unseen_group=True):
    "No one in two of train, val and test (the held-out test splits show test people; test_unseen_person its own group, when there is one)."
    p = people_by_split(rows)
    held = p['val'] | p['test'] | p['test_ood'] | p['test_unseen_person'] | p['test_rerendered_real']
    assert not p['train'] & held and not p['val'] & (p['test'] | p['test_ood'] | p['test_unseen_person'])
    assert (p['test_ood'] | p['test_rerendered_real']) <= p['test'] | p['test_ood']
    if unseen_group: assert not p['test_unseen_person'] & (p['test'] | p['val'])


def same_rows(a, b):
    for s in SPLITS:
        cols = ['id', 'question', 'answer', 'meta']
        assert a[s].select_columns(cols).to_dict() == b[s].select_columns(cols).to_dict(), s


def forget_indexes(monkeypatch):
    "Empty this process' memo and make indexing or listing fail: what follows must come from DIR/_work."
    OD._MEMO.clear()
    def never(*a, **k): raise AssertionError('indexed or listed again')
    monkeypatch.setattr(OD, 'index_faces', never); monkeypatch.setattr(OD, 'corpus_pairs', never)


# ---------------------------------------------------------------- your photos

def test_faces_build_person_disjoint_with_provenance_and_resume(photos, tmp_path, monkeypatch):
    out = tmp_path / 'mine'
    first = build_dataset(out, n=24, faces=photos, licence=LICENCE, shard_items=12, max_shards=1, progress=False)
    assert first['complete'] is False and (out / '_work' / 'faces.json').is_file()
    config = json.loads((out / '_work' / 'plan.json').read_text())['config']['source']
    assert (config['kind'], config['folder'], config['licence'], config['min_face']) == ('faces', str(photos.resolve()), LICENCE, 64)
    forget_indexes(monkeypatch)                       # the resumed build reads the index from _work/faces.json
    m = build_dataset(out, n=24, faces=photos, licence=LICENCE, shard_items=12, progress=False)
    assert m['complete'] and m['source']['people'] >= 4 and m['source']['rejected_faces']
    assert {r['code'] for r in m['source']['rejected_faces']} >= {'duplicate', 'unreadable', 'no_face'}
    rows = rows_of(out)
    assert_person_disjoint(rows)
    assert all(s['items'] for s in m['splits'].values())
    for r in rows:
        prov = r.meta['provenance']
        assert prov['licence'] == LICENCE and prov['person'] == r.meta['identity'] and (photos / prov['file']).is_file()
        assert isinstance(prov['face'], int)
    donors = [r for r in rows if r.meta['donor']]
    assert donors and all(r.meta['donor_provenance']['person'] == r.meta['donor'] for r in donors)
    assert all(r.meta['donor'] != r.meta['identity'] for r in donors if r.split == 'train')   # another person of the split
    assert {r.labels['method'] for r in rows if r.split == 'test_ood' and r.labels['is_fake']} <= set(OOD_METHODS)
    assert not {r.labels['method'] for r in rows if r.split == 'test_rerendered_real' and r.labels['is_fake']}


def test_faces_folder_changed_since_the_plan(photos, tmp_path):
    copy = tmp_path / 'photos'; copy.mkdir()     # four people: quick to index
    for f in sorted((photos / 'portraits').iterdir())[:4]: shutil.copy(f, copy / f.name)
    out = tmp_path / 'mine'
    assert build_dataset(out, n=12, faces=copy, licence=LICENCE, shard_items=6, max_shards=1, progress=False)['complete'] is False
    shutil.copy(sorted((photos / 'portraits').iterdir())[5], copy / 'new_photo.jpg')
    with pytest.raises(FifaError, match='unfinished build with other settings'):
        build_dataset(out, n=12, faces=copy, licence=LICENCE, shard_items=6, progress=False)


def test_faces_parts_merge_like_one_build(photos, tmp_path, monkeypatch):
    args = dict(n=12, faces=photos, licence=LICENCE, shard_items=4, progress=False)
    one = build_dataset(tmp_path / 'one', **args)
    for k in range(2): build_dataset(tmp_path / f'part{k}', shard_index=k, num_shards=2, **args)
    forget_indexes(monkeypatch)                       # merging reads the index a part kept
    merged = merge_parts(tmp_path / 'merged', [tmp_path / 'part1', tmp_path / 'part0'], progress=False)
    assert merged['source'] == one['source'] and merged['splits'] == one['splits']
    same_rows(load_fifa11(tmp_path / 'one'), load_fifa11(tmp_path / 'merged'))


def test_faces_bad_folders_write_nothing(photos, tmp_path):
    one = tmp_path / 'one_person'; one.mkdir()
    for f in sorted((photos / 'holiday').iterdir())[:4]: shutil.copy(f, one / f.name)
    (tmp_path / 'landscape').mkdir(); shutil.copy(photos / 'misc' / 'landscape.png', tmp_path / 'landscape')
    (tmp_path / 'empty').mkdir()
    for folder, says in ((one, 'needs at least 3 people'), (tmp_path / 'landscape', 'No usable face'), (tmp_path / 'empty', 'No photos'),
                         (tmp_path / 'missing', 'is not a folder'), (photos / 'notes.txt', 'is not a folder')):
        with pytest.raises(FifaError, match=says): build_dataset(tmp_path / 'never', n=12, faces=folder, licence='x', progress=False)
    with pytest.raises(FifaError, match='licence must be a short text'): build_dataset(tmp_path / 'never', faces=photos, licence=7, progress=False)
    with pytest.raises(FifaError, match='go with faces='): build_dataset(tmp_path / 'never', licence='x', progress=False)
    with pytest.raises(FifaError, match='not both'): build_dataset(tmp_path / 'never', faces=photos, corpus=('ffpp', photos), progress=False)
    with pytest.warns(UserWarning, match='No licence given'): OD.FACES.settings(photos)
    assert not (tmp_path / 'never').exists()


def test_plan_items_with_people_of_several_photos():
    ids = [dict(key=f'faces:{p}/{k}.jpg#0', source='faces', split=s, person=f'faces/{p}')
           for p, s, n in (('a', 'train', 3), ('b', 'train', 1), ('c', 'val', 2), ('d', 'test', 1), ('e', 'test', 2)) for k in range(n)]
    items = OD.plan_items(60, 0, ids)
    person = {i['key']: i['person'] for i in ids}
    split = {i['key']: i['split'] for i in ids}
    assert {it['split'] for it in items} == set(SPLITS)   # no unseen group: test_unseen_person shows the test people
    for it in items:
        assert split[it['identity']] == {'test_ood': 'test', 'test_rerendered_real': 'test', 'test_unseen_person': 'test'}.get(it['split'], it['split'])
        if it['donor'] and it['split'] != 'val':          # val has one person: a donor is another photo of them
            assert person[it['donor']] != person[it['identity']]
        if it['donor'] and it['split'] == 'val': assert person[it['donor']] == 'faces/c'
    assert len({it['identity'] for it in items if it['split'] == 'train'}) == 4   # every photo of the train people is used


# ---------------------------------------------------------------- corpora

def wider_ffpp(fx, tmp_path):
    "The FF++ fixture with its videos copied under new ids (1xx, 2xx): three pairs of people instead of one."
    src, root = Path(fx['ffpp']), tmp_path / 'FaceForensics++'
    shutil.copytree(src, root)
    for new in '12':
        for p in sorted(src.rglob('*.mp4')):
            shutil.copy(p, root / p.relative_to(src).parent / ('_'.join(new + s[1:] for s in p.stem.split('_')) + '.mp4'))
    return root


def test_ffpp_build_pairs_truth_masks_and_held_out_method(fx, tmp_path):
    root = wider_ffpp(fx, tmp_path)
    out = tmp_path / 'ffpp'
    m = build_dataset(out, n=60, corpus=('ffpp', root, {'frames_every': 3, 'max_frames': 1}), progress=False)
    src = m['source']
    assert (src['pairs'], src['reals'], src['person_groups'], src['ood_methods']) == (18, 6, 3, ['NeuralTextures'])
    assert src['not_used'] == {'a held-out method (ood_methods) on a person outside test': 2}
    rows = rows_of(out)
    assert_person_disjoint(rows)
    for s in ('train', 'val', 'test'):   # 000 goes with 003 (their pairs link them), 100 with 103, 200 with 203
        ids = {r.meta['identity'] for r in rows if r.split == s}
        assert len(ids) == 2 and len({i[5] for i in ids}) == 1, ids
    fakes = [r for r in rows if r.labels['is_fake']]
    assert {r.labels['method'] for r in fakes if r.split == 'test_ood'} == {'NeuralTextures'}
    assert 'NeuralTextures' not in {r.labels['method'] for r in fakes if r.split != 'test_ood'}
    for r in fakes:
        assert ('gt_mask' in r.meta) == (r.labels['method'] != 'FaceShifter')   # FF++ has no FaceShifter masks
        assert r.meta['provenance']['licence'].startswith('FaceForensics++') and r.meta['donor'] == r.meta['provenance']['source_person']
    assert [d['annotator_iou'] for d in m['splits'].values() if d['fake_items']] and all(
        d['annotator_iou'] > 0.2 for d in m['splits'].values() if d['annotator_iou'] is not None)
    reals = [r for r in rows if not r.labels['is_fake'] and r.task == 'det']
    assert {r.split for r in reals} >= {'train', 'val', 'test', 'test_rerendered_real'} and all(r.meta['postprocess'] == [] for r in reals)


def test_dffd_build_with_a_pair_rejected_at_build(fx, tmp_path):
    root = tmp_path / 'DFFD'; shutil.copytree(fx['dffd'], root)
    import cv2
    from fifa_nb.core import load_image, save_image
    bad = root / 'faceapp' / 'train' / '00002.png'      # another size than its real: it cannot be lined up
    save_image(cv2.resize(load_image(bad), (200, 200)), bad, overwrite=True)
    out = tmp_path / 'dffd'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = build_dataset(out, n=24, corpus=('dffd', root), progress=False)
    stages = {r['stage']: r for r in m['rejected']}
    assert 'no same-name real image' in stages['listing']['reason']          # faceapp/test/00004 has no real
    assert 'not one geometry' in stages['build']['reason'] and stages['build']['what'] == 'dffd/faceapp/train/00002'
    assert sum(d['failed_items'] for d in m['splits'].values()) == 1
    rows = rows_of(out)
    assert_person_disjoint(rows)
    assert all(r.meta['provenance']['licence'].startswith('DFFD') for r in rows)
    assert len(load_fifa11(out, 'parquet', cache_dir=str(tmp_path / 'hf'))['test_ood']) == 0   # no method held out for DFFD: empty, still loads


def test_corpus_parts_merge_and_resume_from_the_listing(fx, tmp_path, monkeypatch):
    args = dict(n=12, corpus=('dffd', fx['dffd'], {'pairs': fx['dffd_pairs']}), shard_items=3, progress=False)
    one = build_dataset(tmp_path / 'one', **args)
    for k in range(2): build_dataset(tmp_path / f'part{k}', shard_index=k, num_shards=2, **args)
    first = build_dataset(tmp_path / 'resumed', max_shards=1, **args)
    forget_indexes(monkeypatch)
    merged = merge_parts(tmp_path / 'merged', [tmp_path / 'part0', tmp_path / 'part1'], progress=False)
    resumed = build_dataset(tmp_path / 'resumed', **args)
    assert first['complete'] is False and merged['splits'] == one['splits'] == resumed['splits']
    same_rows(load_fifa11(tmp_path / 'one'), load_fifa11(tmp_path / 'merged'))
    same_rows(load_fifa11(tmp_path / 'one'), load_fifa11(tmp_path / 'resumed'))
    fakes = [r for r in rows_of(tmp_path / 'one') if r.labels['is_fake']]
    assert fakes and all('gt_mask' in r.meta and r.meta['gt_iou'] > 0.2 for r in fakes)


def test_a_corpus_of_reals_becomes_people_for_our_forgeries(fx, tmp_path):
    with pytest.warns(UserWarning, match='no val split'):
        m = build_dataset(tmp_path / 'celeba', n=12, corpus=('celebamask', fx['celebamask']), progress=False)
    assert m['source']['fakes'].startswith('fifa_nb forgeries') and m['splits']['val']['items'] == 0
    rows = rows_of(tmp_path / 'celeba')
    assert_person_disjoint(rows, unseen_group=False)   # two people: train and test; test_unseen_person shows the test person
    assert {r.meta['identity'] for r in rows} == {'celebamask/0', 'celebamask/2001'}
    assert any(r.labels['is_fake'] for r in rows) and all(r.meta['provenance']['licence'].startswith('CelebAMask-HQ') for r in rows)


def test_bad_corpora_write_nothing(fx, tmp_path):
    for corpus, says in ((('ffpp', fx['dffd']), 'FF\\+\\+ folder'), (('lfw', fx['dffd']), 'Unknown corpus'),
                         (('ffpp', tmp_path / 'missing'), 'is not a folder'), (('dffd', fx['dffd'], {'colour': 1}), 'takes the options'),
                         ('ffpp', 'takes \\(name, root\\)'), (('dffd', fx['dffd'], {'max_frames': 0}), 'max_frames'),
                         (('ddvqa', fx['ddvqa']), 'ffpp_root')):
        with pytest.raises(FifaError, match=says): build_dataset(tmp_path / 'never', n=12, corpus=corpus, progress=False)
    one = tmp_path / 'DFFD'; shutil.copytree(fx['dffd'], one)      # one pair left: one person
    for sub in ('ffhq', 'faceapp'):
        for f in (one / sub).rglob('*.png'):
            if f.stem != '00001': f.unlink()
    with pytest.raises(FifaError, match='needs at least two'): build_dataset(tmp_path / 'never', n=12, corpus=('dffd', one), progress=False)
    assert not (tmp_path / 'never').exists()


# ---------------------------------------------------------------- the command line

def test_cli_build_data_faces_and_corpus(photos, fx, tmp_path, capsys):
    out = str(tmp_path / 'mine')
    assert main(['build-data', '--out', out, '--faces', str(photos), '--licence', LICENCE, '--n', '12', '--quiet']) == 0
    said = capsys.readouterr().out
    assert 'people:' in said and 'faces or files refused' in said
    assert main(['build-data', '--out', out, '--faces', str(photos), '--licence', LICENCE, '--n', '12', '--quiet']) == 1
    assert 'already holds' in capsys.readouterr().err
    assert main(['build-data', '--out', str(tmp_path / 'dffd'), '--corpus', 'dffd', str(fx['dffd']), '--pairs', str(fx['dffd_pairs']),
                 '--n', '12', '--quiet']) == 0
    assert 'dffd: 4 pairs (4 with a truth mask)' in capsys.readouterr().out
    for argv, says in ((['--corpus', 'ffpp', str(fx['dffd'])], 'FF++ folder'), (['--licence', 'x'], 'go with --faces'),
                       (['--faces', str(tmp_path / 'nowhere')], 'is not a folder'), (['--pairs', 'x.csv'], 'go with --corpus')):
        assert main(['build-data', '--out', str(tmp_path / 'never'), '--n', '12', '--quiet'] + argv) == 1
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'never').exists()
