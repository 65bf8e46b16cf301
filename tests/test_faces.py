"""Direct tests of fifa_nb.faces (nbs/05b_faces.ipynb teaches it, with pictures): a small folder of photos made from the
bundled portraits is indexed once; grouping, copies, refusals, splits, JSON and bad input are checked on it."""
import json, os, subprocess, sys, warnings

import numpy as np
import pytest

from fifa_nb.core import FifaError
from fifa_nb.landmarks import BackendUnavailableError, available_backends
import fifa_nb.faces as faces
import fifa_nb.face_checks   # where index_faces looks dlib up (monkeypatched below)
from fifa_nb.face_identity import _first_appearance
from fifa_nb.faces import (FaceIndex, blur_ratio, cluster_faces, estimate_yaw, index_faces, make_demo_photos,
                           photo_files, split_people)

needs_dlib = pytest.mark.skipif(available_backends()['dlib'] is not None, reason='dlib is not installed')


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    photos = tmp_path_factory.mktemp('faces') / 'photos'
    return photos, make_demo_photos(photos, n_people=4, n_varied=1, seed=1)


@pytest.fixture(scope='module')
def index(folder):
    with warnings.catch_warnings():
        warnings.simplefilter('error')          # 4 portraits + 2 in the group photo: no 'too few people' warning
        return index_faces(folder[0], licence='public domain', progress=False)


@needs_dlib
def test_groups_copies_and_refusals(folder, index):
    photos, truth = folder
    who = {e.key: truth[e.file][e.face] for e in index.entries}
    people = {}
    for e in index.entries: people.setdefault(e.person, set()).add(who[e.key])
    names = [n for n in {w for w in who.values()}]
    assert sum(len(v) == 1 for v in people.values()) >= len(people) - 1        # at most one mixed group
    for name in names:                                                           # each person in one group: no leak
        assert sum(name in v for v in people.values()) == 1, name
    assert [e.face for e in index.entries if e.file == 'group/two_people.jpg'] == [0, 1]
    codes = {(r['file'], r['face']): r['code'] for r in index.rejected}
    assert codes[('misc/tiny_face.jpg', 0)] == 'too_small'
    assert codes[('misc/blurred_strong.jpg', 0)] == 'blurred'
    assert codes[('misc/landscape.png', None)] == 'no_face'
    assert codes[('misc/broken.jpg', None)] == 'unreadable'
    copied = [r for r in index.rejected if r['code'] == 'duplicate']
    assert {r['file'] for r in copied} >= {f for f in truth if f.endswith('_q30.jpg')}
    assert all(r['duplicate_of'] in {e.key for e in index.entries} for r in copied)
    assert all(r['reason'] for r in index.rejected) and str(photos) not in json.dumps(index.rejected)
    assert '.thumbnail.jpg' not in json.dumps(index.to_dict()) and 'notes.txt' not in json.dumps(index.to_dict())
    assert index.stats['photos'] == sum(v is not None for v in truth.values())


@needs_dlib
def test_split_is_person_disjoint(index):
    split = split_people(index, seed=3)
    assert set(split) == set(index.people()) and set(split.values()) == {'train', 'val', 'test'}
    assert split == split_people(index, seed=3)
    with pytest.raises(FifaError, match='at least 3 people'): split_people(['p001', 'p002'])
    with pytest.warns(UserWarning, match='cannot be split'): assert split_people(['p001'], strict=False) == {'p001': 'train'}
    with pytest.raises(FifaError, match='leave some people for train'): split_people(index, shares={'val': 0.6, 'test': 0.4})
    with pytest.raises(FifaError, match="not 'train'"): split_people(index, shares={'train': 0.2})


@needs_dlib
def test_json_round_trip_and_validation(index, tmp_path):
    path = index.to_json(tmp_path / 'faces.json')
    again = FaceIndex.from_json(path)
    assert again.to_dict() == json.loads(path.read_text())
    assert [(e.key, e.person) for e in again.entries] == [(e.key, e.person) for e in index.entries]
    assert again.regrouped().people().keys() == index.people().keys()
    image, landmarks = again.load(again.entries[0])
    assert image.shape[:2] == landmarks.image_size
    d = json.loads(path.read_text())
    for change, says in [(lambda d: d['entries'][0].update(file='/etc/passwd'), 'must stay inside'),
                         (lambda d: d['entries'][0].update(person=7), 'person must look like'),
                         (lambda d: d['entries'][0].update(phash='xyz'), 'phash'),
                         (lambda d: d['rejected'].append('oops'), 'rejected'),
                         (lambda d: d.update(format=None), 'Not a face index')]:
        bad = json.loads(json.dumps(d)); change(bad)
        (tmp_path / 'bad.json').write_text(json.dumps(bad))
        with pytest.raises(FifaError, match=says): FaceIndex.from_json(tmp_path / 'bad.json')


@needs_dlib
def test_bad_folders(folder, tmp_path):
    photos, _ = folder
    with pytest.raises(FifaError, match='is not a folder'): index_faces(tmp_path / 'missing', progress=False)
    (tmp_path / 'empty').mkdir(); (tmp_path / 'empty' / 'a.txt').write_text('x')
    with pytest.raises(FifaError, match='No photos in'): index_faces(tmp_path / 'empty', progress=False)
    none = tmp_path / 'none'; none.mkdir()
    for f in ('misc/landscape.png', 'misc/broken.jpg'): (none / os.path.basename(f)).write_bytes((photos / f).read_bytes())
    with pytest.raises(FifaError, match=r'No usable face in the 2 photos .*unreadable 1'): index_faces(none, progress=False)
    with pytest.raises(FifaError, match='max_yaw'): index_faces(none, max_yaw=120, progress=False)


def test_links_stay_inside(tmp_path):
    root = tmp_path / 'photos'; (root / 'a').mkdir(parents=True)
    (root / 'a' / 'x.JPG').write_bytes(b'x'); (root / '.hidden.jpg').write_bytes(b'x'); (tmp_path / 'out.jpg').write_bytes(b'x')
    os.symlink(tmp_path / 'out.jpg', root / 'a' / 'out.jpg'); os.symlink(root, root / 'a' / 'up')
    os.symlink(root / 'a' / 'self.jpg', root / 'a' / 'self.jpg')           # a link to itself
    files, refused = photo_files(root)
    assert [f.relative_to(root).as_posix() for f in files] == ['a/x.JPG']
    assert sorted((r['file'], r['code']) for r in refused) == [('a/out.jpg', 'outside'), ('a/self.jpg', 'loop'), ('a/up', 'loop')]


def test_no_dlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(fifa_nb.face_checks, '_dlib_status', lambda *a: 'dlib is not installed')
    with pytest.raises(BackendUnavailableError, match=r'fifa_nb\[landmarks\]'): index_faces(tmp_path, progress=False)


def test_yaw_blur_and_clustering():
    from fifa_nb.samples import sample_faces
    import cv2
    face = sample_faces()[0]
    lm = face.landmarks
    for angle in (-50, 0, 30):
        t, pts = np.radians(angle), lm.points.copy()
        pts[36], pts[45], pts[30] = (0, 0), (100 * np.cos(t), 0), (50 * np.cos(t) + 50 * faces.NOSE_DEPTH * np.sin(t), 40)
        assert abs(estimate_yaw(lm.moved(pts)) - angle) < 1e-3
    assert abs(estimate_yaw(lm.flipped()) + estimate_yaw(lm)) < 1e-3
    crop = faces.crop_face(face.image, lm, size=faces.BLUR_CROP)[0]
    ratios = [blur_ratio(cv2.GaussianBlur(crop, (0, 0), s) if s else crop) for s in (0, 1, 2, 4)]
    assert ratios == sorted(ratios) and ratios[0] < faces.MAX_BLUR < ratios[2]
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.1, (5, 8)) for c in rng.normal(0, 1, (6, 8))])
    for how in faces.LINKAGES:
        labels = cluster_faces(X, 0.8, how)
        assert labels.max() + 1 == 6 and all(len(set(labels[k * 5:(k + 1) * 5])) == 1 for k in range(6))
    scipy = pytest.importorskip('scipy.cluster.hierarchy')
    for how in faces.LINKAGES:
        for t in (0.3, 0.6, 1.2):
            assert (cluster_faces(X, t, how) == _first_appearance(scipy.fcluster(scipy.linkage(X, how), t, 'distance'))).all()


def test_import_is_light():
    code = ("import sys, fifa_nb.faces; heavy = [m for m in ('dlib', 'matplotlib.pyplot', 'scipy', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, '-c', code], check=True)
