"""Annotating a folder of pairs (issue 7), and paths read from dataset files that must never leave their root:
`..`, absolute paths and symbolic links that lead outside are refused with a FifaError."""
import json, os, shutil
from pathlib import Path
import numpy as np
import pytest
from fifa_nb.core import FifaError, OutputExistsError, save_image
from fifa_nb.samples import sample_face
from fifa_nb.batch import UnsafePathError, annotate_folder, check_inside, find_pairs, inside_root, SUMMARY


# ------------------------------------------------------------------ inside_root / check_inside

@pytest.mark.parametrize('bad, says', [
    ('../secret.txt', "climbs out with '..'"), ('a/../../secret.txt', "climbs out"), ('a\\..\\..\\secret.txt', 'climbs out'),
    ('/etc/passwd', 'is absolute'), ('C:\\Windows\\win.ini', 'is absolute'), ('\\\\server\\share\\x', 'is absolute'),
    ('', 'empty'), ('a\x00b', 'binary'), (None, 'Expected a path'), ('out', 'outside'), ('sub/out', 'outside')])
def test_inside_root_refuses_paths_that_leave_the_root(tmp_path, bad, says):
    root = tmp_path / 'root'; (root / 'sub').mkdir(parents=True)
    (tmp_path / 'secret.txt').write_text('secret')
    os.symlink(tmp_path / 'secret.txt', root / 'out')                 # a link to a file outside
    os.symlink(tmp_path, root / 'sub' / 'up')                         # a link to a folder outside
    os.symlink(root / 'sub' / 'up' / 'secret.txt', root / 'sub' / 'out')
    with pytest.raises(UnsafePathError, match=says): inside_root(root, bad, 'index.json')
    assert issubclass(UnsafePathError, FifaError)


def test_inside_root_accepts_paths_and_links_that_stay_inside(tmp_path):
    root = tmp_path / 'root'; (root / 'a').mkdir(parents=True); (root / 'a' / 'x.png').write_bytes(b'x')
    os.symlink(root / 'a' / 'x.png', root / 'link.png')                # a link that stays inside is fine
    assert inside_root(root, 'a/x.png') == root / 'a' / 'x.png'
    assert inside_root(root, 'a\\x.png') == root / 'a' / 'x.png'
    assert inside_root(root, 'link.png') == root / 'link.png'
    assert inside_root(root, './a/./x.png').resolve() == (root / 'a' / 'x.png').resolve()
    with pytest.raises(UnsafePathError): check_inside(root, root / 'a' / '..' / '..' / 'x')


# ------------------------------------------------------------------ annotate_folder

@pytest.fixture(scope='module')
def pair_images():
    from fifa_nb.forgery import make_forgery
    astro = sample_face('astronaut')
    f = make_forgery(astro.image, astro.landmarks, 'smile', seed=0)
    g = make_forgery(astro.image, astro.landmarks, 'lip_recolor', seed=0)
    return dict(smile=(f.real, f.fake), lips=(g.real, g.fake))


def test_two_folder_layout_and_symlink_escapes(tmp_path, pair_images):
    real, fake = tmp_path / 'real', tmp_path / 'fake'; real.mkdir(); fake.mkdir()
    for name, (r, f) in pair_images.items():
        save_image(r, real / f'{name}.png'); save_image(f, fake / f'{name}.jpg', quality=95)
    save_image(pair_images['smile'][0], tmp_path / 'outside.png')
    os.symlink(tmp_path / 'outside.png', fake / 'escape.png'); shutil.copy(real / 'smile.png', real / 'escape.png')
    os.symlink(real / 'smile.png', real / 'inner.png'); shutil.copy(fake / 'smile.jpg', fake / 'inner.jpg')   # a link inside: fine
    (real / '.hidden.png').write_bytes(b'x'); (real / 'notes.txt').write_text('ignored')
    pairs, problems = find_pairs((real, fake))
    assert sorted(pairs) == ['inner', 'lips', 'smile'] and list(problems) == ['escape']
    assert 'outside' in problems['escape'] and 'symbolic links' in problems['escape']
    s = annotate_folder((real, fake), tmp_path / 'out', progress=False)
    assert (s['annotated'], s['failed'], sorted(s['errors'])) == (3, 1, ['escape'])
    assert s['annotations']['smile'] == dict(s['annotations']['smile'], real='smile.png', fake='smile.jpg', verdict='fake')
    from fifa_nb.annotator import Annotation
    a = Annotation.from_json(tmp_path / 'out' / 'lips.json')
    assert a.real_id == 'lips.png' and a.fake_id == 'lips.jpg' and a.rule == 'hysteresis'


def test_never_overwrites_without_force_and_resumes(tmp_path, pair_images):
    pairs = tmp_path / 'pairs'; pairs.mkdir()
    for name, (r, f) in pair_images.items():
        save_image(r, pairs / f'{name}_real.png'); save_image(f, pairs / f'{name}_fake.png')
    out = tmp_path / 'out'; out.mkdir()
    (out / 'smile.json').write_text('{"my": "own notes"}')          # not ours: never replaced
    with pytest.raises(OutputExistsError, match='smile.json exists and it is not a fifa_nb annotation'):
        annotate_folder(pairs, out, progress=False)
    assert json.loads((out / 'smile.json').read_text()) == {'my': 'own notes'}
    (out / 'smile.json').unlink()
    first = annotate_folder(pairs, out, progress=False)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert annotate_folder(pairs, out, progress=False) == first                          # finished: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    (out / SUMMARY).unlink(); (out / 'lips.json').unlink()                                # interrupted
    (out / '.lips.json.abc123.tmp').write_text('{"cut')                                   # debris of a killed write
    assert annotate_folder(pairs, out, progress=False) == first
    assert (out / 'smile.json').stat().st_mtime_ns == stamp['smile.json']                # done pairs are skipped
    assert not list(out.glob('.*'))
    with pytest.raises(OutputExistsError, match='pass force=True'): annotate_folder(pairs, out, rule='top5', progress=False)
    assert annotate_folder(pairs, out, rule='top5', force=True, progress=False)['rule'] == 'top5'
    with pytest.raises(FifaError, match='Unknown rule'): annotate_folder(pairs, out, rule='nope', progress=False)
    with pytest.raises(FifaError, match='No pictures to pair'): annotate_folder(tmp_path / 'out', tmp_path / 'o2', progress=False)


def test_a_broken_pair_is_recorded_not_fatal(tmp_path, pair_images):
    pairs = tmp_path / 'pairs'; pairs.mkdir()
    r, f = pair_images['smile']
    save_image(r, pairs / 'good_real.png'); save_image(f, pairs / 'good_fake.png')
    (pairs / 'garbage_real.png').write_bytes(b'not an image'); save_image(f, pairs / 'garbage_fake.png')
    save_image(r, pairs / 'twice_real.png'); save_image(r, pairs / 'twice_real.jpg'); save_image(f, pairs / 'twice_fake.png')
    save_image(r, pairs / 'summary_real.png'); save_image(f, pairs / 'summary_fake.png')
    s = annotate_folder(pairs, tmp_path / 'out', progress=False)
    assert list(s['annotations']) == ['good'] and sorted(s['errors']) == ['garbage', 'summary', 'twice']
    assert 'more than one picture' in s['errors']['twice'] and 'reserved' in s['errors']['summary']


# ------------------------------------------------------------------ dataset files

def _fake_fifa11(root):
    "A minimal FiFa-11 folder (four splits, one row each) written with datasets, as load_fifa11 expects."
    datasets = pytest.importorskip('datasets')
    from fifa_nb.dataset import SPLITS, DATASET_FORMAT
    from fifa_nb.tasks import encode_png
    png = encode_png(np.zeros((8, 8, 3), np.uint8))
    feats = datasets.Features({'id': datasets.Value('string'), 'image': datasets.Image()})
    dd = datasets.DatasetDict({s: datasets.Dataset.from_dict({'id': [s], 'image': [{'bytes': png, 'path': None}]}, features=feats)
                               for s in SPLITS})
    dd.save_to_disk(str(root / 'arrow'))
    (root / 'parquet').mkdir()
    for s in SPLITS: dd[s].to_parquet(str(root / 'parquet' / f'{s}.parquet'))
    return _redigest(root)


def _redigest(root):
    "Record the digests of the files as they are now (as an attacker who edits the files would also do)."
    from fifa_nb.dataset import DATASET_FORMAT, file_digests
    (root / 'fifa11.json').write_text(json.dumps(dict(format=DATASET_FORMAT, digests=file_digests(root))))
    return root


def _image_as_path(table, path):
    "The same table with its image column naming a file to read instead of holding the bytes (what datasets would decode)."
    import pyarrow as pa
    image = pa.array([{'bytes': None, 'path': str(path)}] * len(table), type=table.schema.field('image').type)
    return table.set_column(table.schema.get_field_index('image'), table.schema.field('image'), image)


def test_load_fifa11_reads_only_inside_its_folder(tmp_path):
    from fifa_nb.dataset import load_fifa11
    ok = _fake_fifa11(tmp_path / 'ok')
    assert len(load_fifa11(ok)['train']) == 1 and len(load_fifa11(ok, 'parquet', cache_dir=str(tmp_path / 'cache'))['test']) == 1
    # state.json naming a data file outside the split folder: '..', absolute, a sub-path
    for name, says in [('../../../train/data-00000-of-00001.arrow', 'only a plain file name'), ('/etc/passwd', 'only a plain file name'),
                       ('..', "climbs out")]:
        bad = Path(shutil.copytree(ok, tmp_path / 'bad'))
        state = bad / 'arrow' / 'test' / 'state.json'
        s = json.loads(state.read_text()); s['_data_files'] = [{'filename': name}]; state.write_text(json.dumps(s))
        with pytest.raises(FifaError, match='damaged'): load_fifa11(bad)   # the digests catch the edit first
        with pytest.raises(UnsafePathError, match=says): load_fifa11(_redigest(bad))
        shutil.rmtree(bad)
    # symbolic links out of the dataset folder: the arrow folder, one split, a data file, a parquet file
    for link in ('arrow', 'arrow/val', 'arrow/val/state.json', 'parquet/test.parquet'):
        bad = Path(shutil.copytree(ok, tmp_path / 'bad', symlinks=True))
        target = bad / link
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.symlink(ok / link, target)
        with pytest.raises(UnsafePathError, match='outside'): load_fifa11(_redigest(bad), 'parquet' if 'parquet' in link else 'arrow')
        shutil.rmtree(bad)
    # a split list naming folders that are not FiFa-11 splits
    bad = Path(shutil.copytree(ok, tmp_path / 'bad'))
    (bad / 'arrow' / 'dataset_dict.json').write_text(json.dumps({'splits': ['train', '../../x']}))
    with pytest.raises(FifaError, match='names the splits'): load_fifa11(_redigest(bad))


def test_images_stored_as_paths_are_refused(tmp_path):
    "A datasets.Image may hold a path to read instead of bytes: a dataset file could then read any picture on the disk."
    import pyarrow as pa, pyarrow.parquet as pq
    from fifa_nb.dataset import load_fifa11
    save_image(np.zeros((8, 8, 3), np.uint8), tmp_path / 'private.png')
    bad = _fake_fifa11(tmp_path / 'bad')
    arrow = next((bad / 'arrow' / 'val').glob('*.arrow'))
    with pa.memory_map(str(arrow)) as f: table = pa.ipc.open_stream(f).read_all()
    table = _image_as_path(table, tmp_path / 'private.png')
    with pa.OSFile(str(arrow), 'wb') as f, pa.ipc.new_stream(f, table.schema) as w: w.write_table(table)
    with pytest.raises(UnsafePathError, match='1 image.s. of split val are file paths rather than stored bytes'): load_fifa11(_redigest(bad))
    pq.write_table(_image_as_path(pq.read_table(bad / 'parquet' / 'test.parquet'), tmp_path / 'private.png'), bad / 'parquet' / 'test.parquet')
    with pytest.raises(UnsafePathError, match='split test are file paths'): load_fifa11(_redigest(bad), 'parquet', cache_dir=str(tmp_path / 'c'))


def test_a_build_plan_changed_by_hand_is_refused(tmp_path):
    "The plan of an unfinished build names identity files; a plan that is not the one the settings give is not used."
    pytest.importorskip('datasets')
    from fifa_nb.dataset import build_dataset
    out = tmp_path / 'fifa11'
    first = build_dataset(out, n=12, seed=0, max_shards=0, progress=False)
    assert first['complete'] is False
    plan_file = out / '_work' / 'plan.json'
    plan = json.loads(plan_file.read_text())
    plan['items'][0]['identity'] = '../../../../etc/passwd'
    plan_file.write_text(json.dumps(plan))
    with pytest.raises(FifaError, match='is not a plan this fifa_nb version writes'): build_dataset(out, n=12, seed=0, max_shards=0, progress=False)
    with pytest.raises(FifaError, match='is not a plan this fifa_nb version writes'): build_dataset(out, n=12, seed=0, overwrite=True, progress=False)
    assert plan_file.exists()   # not ours any more: not deleted, even with --force
    from fifa_nb.dataset import build_item
    with pytest.raises(UnsafePathError, match="climbs out with '..'"): build_item(plan['items'][0], out / '_work' / 'identities')


def test_a_build_killed_before_its_plan_was_saved_starts_over(tmp_path):
    pytest.importorskip('datasets')
    from fifa_nb.dataset import build_dataset
    out = tmp_path / 'fifa11'
    (out / '_work').mkdir(parents=True); (out / '_work' / '.plan.json.x1y2.tmp').write_text('{"config"')
    assert build_dataset(out, n=12, seed=0, max_shards=0, progress=False)['complete'] is False
    assert (out / '_work' / 'plan.json').exists() and not list((out / '_work').glob('.*'))
