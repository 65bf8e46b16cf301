"""Checks of fifa_nb.corpora on tiny fixtures (fifa_nb.corpus_fixtures) written in the real corpora's layouts (into temporary folders).

The notebooks nbs/06_corpora.ipynb (loaders, on toy folders) and nbs/06a_corpus_fixtures.ipynb (the fixtures, and
the loaders on them) hold the readable examples; this file holds the error cases in depth:
missing folders, corrupt videos and images, truncated or malformed JSON/CSV, and paths that try to leave
the corpus folder ('..', absolute paths, symbolic links).
"""
import json, os, shutil, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fifa_nb.core import FifaError, OutputExistsError, save_image
from fifa_nb.masks import mask_iou, rle_decode
from fifa_nb.landmarks import Landmarks
from fifa_nb.regions import CELEBAMASK_CLASSES
from fifa_nb import corpora as C
from fifa_nb.corpus_files import _inside   # a private helper: tested where it is defined
from fifa_nb import corpus_fixtures as F

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    "All four fixtures, written once per test module (tests that change files work on copies)."
    return F.make_corpus_fixtures(tmp_path_factory.mktemp('corpora') / 'fixtures')


def copy(src, tmp_path, name=None):
    dest = tmp_path / (name or Path(src).name)
    shutil.copytree(src, dest, symlinks=True)
    return dest


def marker(frame):
    "The frame number drawn into the FF++ fixture frames (a white square moving 10 px per frame)."
    strip = frame[-14:-6, :, :].min(axis=(0, 2)) > 200
    return int(round((np.argmax(strip) - 6) / 10)) if strip.any() else None


# ---------------------------------------------------------------- fixtures and cards

def test_fixture_files_are_small_and_in_the_real_layouts(fx):
    dest = Path(fx['ffpp']).parent
    size = sum(p.stat().st_size for p in dest.rglob('*') if p.is_file())
    assert size < 3_000_000, size
    for rel in ['FaceForensics++/original_sequences/youtube/c23/videos/000.mp4',
                'FaceForensics++/manipulated_sequences/Deepfakes/c23/videos/000_003.mp4',
                'FaceForensics++/manipulated_sequences/Deepfakes/masks/videos/000_003.mp4',
                'DFFD/faceapp/train/00001.png', 'DFFD/ffhq/train/00001.png',
                'DQ_FF++/train_set/Deepfakes/Deepfakes.json', 'DQ_FF++/test_set/Neuraltexture/Neuraltexture.json',
                'DQ_FF++/split/test.json', 'DQ_FF++/total_fake.json',
                'CelebAMask-HQ/CelebA-HQ-img/2001.jpg', 'CelebAMask-HQ/CelebAMask-HQ-mask-anno/1/02001_skin.png',
                'CelebAMask-HQ/CelebA-HQ-to-CelebA-mapping.txt', 'fixtures.json']:
        assert (dest / rel).is_file(), rel
    assert not (dest / 'FaceForensics++/manipulated_sequences/FaceShifter/masks').exists()   # FF++ has no FaceShifter masks
    with Image.open(dest / 'CelebAMask-HQ/CelebA-HQ-img/2001.jpg') as im: assert im.size == (1024, 1024)
    with Image.open(dest / 'CelebAMask-HQ/CelebAMask-HQ-mask-anno/1/02001_skin.png') as im: assert im.size == (512, 512)
    index = json.loads((dest / 'fixtures.json').read_text())
    assert index['ffpp'] == 'FaceForensics++'
    lm = Landmarks.from_dict(index['landmarks']['celebamask']['2001'])
    assert lm.image_size == (1024, 1024)


def test_fixtures_refuse_a_folder_that_holds_files(fx, tmp_path):
    (tmp_path / 'x.txt').write_text('mine')
    with pytest.raises(OutputExistsError, match='not empty'): F.make_corpus_fixtures(tmp_path)
    with pytest.raises(OutputExistsError): F.write_ffpp_fixture(Path(fx['ffpp']))


def test_script_writes_the_fixtures(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / 'scripts/make_corpus_fixtures.py'), str(tmp_path / 'fx')],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'fixtures.json' in out.stdout and (tmp_path / 'fx/DQ_FF++/split/train.json').is_file()
    again = subprocess.run([sys.executable, str(ROOT / 'scripts/make_corpus_fixtures.py'), str(tmp_path / 'fx')],
                           capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 1 and 'not empty' in again.stderr


@pytest.mark.parametrize('card', [C.ffpp_layout, C.dffd_layout, C.ddvqa_layout, C.celebamask_layout])
def test_layout_cards_say_where_to_get_the_data_and_what_is_assumed(card):
    info = card()
    assert info.access and info.layout and info.confirmed and info.assumed
    assert 'download' in info.access.lower() or 'github.com' in info.access
    text = repr(info)
    assert info.name in text and 'Assumed:' in text


def test_import_is_light():
    code = ("import sys, fifa_nb.corpora; heavy = [m for m in ('torch', 'matplotlib.pyplot', 'skimage', 'dlib', "
            "'fifa_nb.annotator') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- safe paths

def test_inside_refuses_escapes(tmp_path):
    root = tmp_path.resolve()
    (root / 'in').mkdir(); (root / 'in/x.png').write_bytes(b'x')
    assert _inside(root, 'in/x.png') == root / 'in/x.png'
    assert _inside(root, 'in\\x.png') == root / 'in/x.png'            # Windows separators are read as folders
    for bad, msg in [('../x.png', "'..'"), ('in/../../x.png', "'..'"), ('/etc/passwd', 'absolute'),
                     ('C:\\x.png', 'absolute'), ('\\\\server\\share\\x.png', 'absolute'), ('', 'empty'), ('  ', 'empty')]:
        with pytest.raises(C.CorpusPathError, match=msg): _inside(root, bad, 'somefile.csv')
    outside = tmp_path.parent / f'{tmp_path.name}_outside'; outside.mkdir(exist_ok=True)
    (root / 'in/link').symlink_to(outside)
    with pytest.raises(C.CorpusPathError, match='outside the corpus folder'): _inside(root, 'in/link/y.png', 'pairs.csv')
    (root / 'in/inner_link').symlink_to(root / 'in/x.png')             # a link that stays inside is fine
    assert _inside(root, 'in/inner_link') == root / 'in/inner_link'


def test_errors_are_fifa_errors():
    assert issubclass(C.CorpusPathError, C.CorpusError) and issubclass(C.CorpusError, FifaError)


# ---------------------------------------------------------------- FaceForensics++

def test_ffpp_index_pairs_names_and_masks(fx):
    videos = C.ffpp_videos(fx['ffpp'])
    assert [(v.method, v.name) for v in videos] == [('Deepfakes', '000_003'), ('Deepfakes', '003_000'), ('Face2Face', '000_003'),
                                                    ('FaceSwap', '003_000'), ('NeuralTextures', '000_003'), ('FaceShifter', '000_003')]
    df = videos[0]
    assert (df.target_id, df.source_id, df.family) == ('000', '003', 'identity_swap')
    assert df.real_path.name == '000.mp4' and df.mask_path.name == '000_003.mp4'
    assert videos[-1].mask_path is None
    assert {v.family for v in videos if v.method in ('Face2Face', 'NeuralTextures')} == {'expression'}


def test_ffpp_split_files_keep_both_directions(fx, tmp_path):
    split = tmp_path / 'test.json'
    split.write_text(json.dumps([['003', '000']]))
    assert len(C.ffpp_videos(fx['ffpp'], pairs=split)) == 6
    split.write_text(json.dumps([['953', '974']]))
    assert C.ffpp_videos(fx['ffpp'], pairs=split) == []
    assert [v.name for v in C.ffpp_videos(fx['ffpp'], ['Deepfakes'], pairs=[('000', '003')])] == ['000_003', '003_000']
    split.write_text('[["000", "003"], ["95')
    with pytest.raises(C.CorpusError, match=r'test\.json.*not valid JSON.*line 1'): C.ffpp_videos(fx['ffpp'], pairs=split)
    split.write_text(json.dumps({'train': ['000']}))
    with pytest.raises(C.CorpusError, match='list of id pairs'): C.ffpp_videos(fx['ffpp'], pairs=split)
    with pytest.raises(C.CorpusError, match='list of id pairs'): C.ffpp_videos(fx['ffpp'], pairs=[['0', '3']])


def test_ffpp_frames_in_step_with_masks(fx):
    pairs = C.load_ffpp(fx['ffpp'], ['Deepfakes', 'FaceShifter'], every=2, max_frames=3)
    assert len(pairs) == 3 * 3
    assert [p.frame for p in pairs[:3]] == [0, 2, 4]
    for p in pairs:
        assert marker(p.real) == p.frame and marker(p.fake) == p.frame
        assert p.real.dtype == np.uint8 and p.real.shape == p.fake.shape == (256, 256, 3)
    first = pairs[0]
    assert first.id == 'FaceForensics++/Deepfakes/c23/000_003#0'
    assert first.real_id == 'FaceForensics++/youtube/c23/000#0'
    assert first.real_path == 'original_sequences/youtube/c23/videos/000.mp4'
    assert first.mask_path == 'manipulated_sequences/Deepfakes/masks/videos/000_003.mp4'
    truth = np.abs(fx_frames(fx)['Deepfakes/000_003'][0].astype(int) - fx_frames(fx)['000'][0]).max(-1) > 8
    assert mask_iou(first.gt_mask, truth) > 0.9
    assert all(p.gt_mask is None and p.mask_path is None for p in pairs if p.method == 'FaceShifter')
    d = first.to_dict()
    json.dumps(d)
    assert np.array_equal(rle_decode(d['gt_mask']), first.gt_mask) and d['frame'] == 0
    assert 'Deepfakes/c23/000_003#0' in repr(first)


_frames_cache = {}
def fx_frames(fx):
    "The frames written into the FF++ fixture (rewritten once into a scratch folder to get them back)."
    if not _frames_cache:
        import tempfile
        _frames_cache.update(F.write_ffpp_fixture(Path(tempfile.mkdtemp()) / 'ff')['frames'])
    return _frames_cache


def test_ffpp_iterates_lazily(fx):
    it = C.iter_ffpp(fx['ffpp'], every=1)
    first = next(it)
    assert first.frame == 0
    it.close()
    assert len(C.load_ffpp(fx['ffpp'], limit=4)) == 4


def test_ffpp_missing_folders_name_them(fx, tmp_path):
    with pytest.raises(C.CorpusError, match='does not exist'): C.ffpp_videos(tmp_path / 'nothing')
    with pytest.raises(C.CorpusError, match="compression='c23'"): C.ffpp_videos(fx['ffpp'], compression='c40')
    with pytest.raises(FifaError, match='compression must be one of'): C.ffpp_videos(fx['ffpp'], compression='c99')
    with pytest.raises(FifaError, match=r'Unknown FF\+\+ method'): C.ffpp_videos(fx['ffpp'], ['DeepFakes'])
    root = copy(fx['ffpp'], tmp_path)
    shutil.rmtree(root / 'manipulated_sequences/FaceSwap')
    with pytest.raises(C.CorpusError, match='FaceSwap/c23/videos'): C.ffpp_videos(root, ['FaceSwap'])
    assert 'FaceSwap' not in {v.method for v in C.ffpp_videos(root)}   # methods=None: the folders present
    shutil.rmtree(root / 'manipulated_sequences')
    with pytest.raises(C.CorpusError, match='No manipulated_sequences'): C.ffpp_videos(root)


def test_ffpp_partial_download_warns_and_skips(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path)
    (root / 'original_sequences/youtube/c23/videos/003.mp4').unlink()
    (root / 'manipulated_sequences/Deepfakes/c23/videos/notes.mp4').write_bytes(b'x')
    with pytest.warns(C.CorpusWarning) as record:
        videos = C.ffpp_videos(root)
    messages = ' | '.join(str(w.message) for w in record)
    assert '2 manipulated video(s) skipped' in messages and 'not named <target>_<source>' in messages
    assert all(v.target_id == '000' for v in videos)


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'empty'])
def test_ffpp_corrupt_video_is_named(fx, tmp_path, damage):
    root = copy(fx['ffpp'], tmp_path)
    video = root / 'manipulated_sequences/Face2Face/c23/videos/000_003.mp4'
    data = video.read_bytes()
    video.write_bytes({'garbage': os.urandom(len(data)), 'truncated': data[:len(data) // 3], 'empty': b''}[damage])
    with pytest.raises(C.CorpusError, match='Face2Face/c23/videos/000_003.mp4'):
        C.load_ffpp(root, ['Face2Face'])
    with pytest.warns(C.CorpusWarning, match='Skipped Face2Face/000_003'):
        pairs = C.load_ffpp(root, ['Face2Face', 'NeuralTextures'], on_error='skip')
    assert {p.method for p in pairs} == {'NeuralTextures'}


def test_ffpp_corrupt_mask_video_and_original(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path)
    (root / 'manipulated_sequences/NeuralTextures/masks/videos/000_003.mp4').write_bytes(b'\x00' * 4096)
    with pytest.raises(C.CorpusError, match='NeuralTextures/masks/videos/000_003.mp4'): C.load_ffpp(root, ['NeuralTextures'])
    (root / 'original_sequences/youtube/c23/videos/003.mp4').write_bytes(b'not a video')
    with pytest.raises(C.CorpusError, match='videos/003.mp4'): C.load_ffpp(root, ['FaceSwap'])


def test_ffpp_mismatched_sizes_and_short_masks(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path)
    small = [np.zeros((64, 64, 3), np.uint8)] * 3
    C.write_video(root / 'manipulated_sequences/Face2Face/c23/videos/000_003.mp4', small)
    with pytest.raises(C.CorpusError, match='do not belong together'): C.load_ffpp(root, ['Face2Face'])
    frames = fx_frames(fx)
    C.write_video(root / 'manipulated_sequences/Face2Face/c23/videos/000_003.mp4', frames['Face2Face/000_003'])
    short_mask = [np.full((256, 256, 3), 255, np.uint8)] * 2
    C.write_video(root / 'manipulated_sequences/Face2Face/masks/videos/000_003.mp4', short_mask)
    pairs = C.load_ffpp(root, ['Face2Face'], every=1)
    assert [p.gt_mask is None for p in pairs] == [False, False, True, True, True, True]
    assert pairs[0].gt_mask.all()


def test_ffpp_symlink_leaving_the_corpus_is_refused(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path, 'ff')
    elsewhere = tmp_path / 'elsewhere'; elsewhere.mkdir()
    target = root / 'manipulated_sequences/FaceSwap/c23/videos/003_000.mp4'
    shutil.move(target, elsewhere / '003_000.mp4')
    target.symlink_to(elsewhere / '003_000.mp4')
    with pytest.raises(C.CorpusPathError, match='outside the corpus folder'): C.ffpp_videos(root, ['FaceSwap'])


def test_read_video_frames_checks_arguments(fx):
    video = Path(fx['ffpp']) / 'original_sequences/youtube/c23/videos/000.mp4'
    assert [i for i, _ in C.read_video_frames(video, every=4)] == [0, 4]
    assert [i for i, _ in C.read_video_frames(video, start=5)] == [5]
    assert list(C.read_video_frames(video, start=50)) == []
    for kwargs in [dict(every=0), dict(every=1.5), dict(max_frames=0), dict(start=-1), dict(every=True)]:
        with pytest.raises(FifaError): next(C.read_video_frames(video, **kwargs))
    with pytest.raises(C.CorpusError, match='missing'): next(C.read_video_frames(video.with_name('999.mp4')))
    with pytest.raises(FifaError, match="on_error"): next(C.iter_ffpp(fx['ffpp'], on_error='ignore'))


# ---------------------------------------------------------------- DFFD

def test_dffd_images_and_labels(fx):
    imgs = C.dffd_images(fx['dffd'])
    assert {(i.subset, i.label) for i in imgs} == {('ffhq', 'real'), ('faceapp', 'fake'), ('stylegan_ffhq', 'fake')}
    assert {i.family for i in imgs if i.subset == 'stylegan_ffhq'} == {'entire_synthesis'}
    assert [i.path.name for i in C.dffd_images(fx['dffd'], 'faceapp', 'test')] == ['00004.png', '00005.png']
    with pytest.raises(C.CorpusError, match="stylegan_ffhq/validation' is missing"): C.dffd_images(fx['dffd'], ['stylegan_ffhq'], 'validation')
    with pytest.raises(FifaError, match='split must be one of'): C.dffd_images(fx['dffd'], 'ffhq', 'val')


def test_dffd_pairs_by_name_and_by_csv(fx):
    by_name = C.load_dffd_pairs(fx['dffd'], 'validation')
    assert [(p.target_id, p.method, p.family, p.gt_mask) for p in by_name] == [('00003', 'faceapp', 'attribute', None)]
    assert by_name[0].id == 'DFFD/faceapp/validation/00003'
    with_csv = C.load_dffd_pairs(fx['dffd'], pairs=fx['dffd_pairs'])
    assert len(with_csv) == 4 and all(p.gt_mask is not None and p.gt_mask.any() for p in with_csv)
    p = with_csv[0]
    changed = np.abs(p.fake.astype(int) - p.real).max(-1) > 8
    assert mask_iou(changed, p.gt_mask) > 0.99
    assert p.mask_path == 'fifa_masks/faceapp/train/00001.png'


def test_dffd_pairing_failures(fx, tmp_path):
    with pytest.warns(C.CorpusWarning, match='1 of 2 images in faceapp/test'):
        assert len(C.load_dffd_pairs(fx['dffd'], 'test')) == 1
    with pytest.raises(C.CorpusError, match='Write a pairs CSV'): C.load_dffd_pairs(fx['dffd'], fake_subset='stylegan_ffhq')
    root = copy(fx['dffd'], tmp_path)
    img = np.asarray(Image.open(root / 'ffhq/train/00002.png'))
    Image.fromarray(img[:200]).save(root / 'ffhq/train/00002.png')
    with pytest.raises(FifaError, match='equal sizes'): C.load_dffd_pairs(root)
    with pytest.warns(C.CorpusWarning, match='Skipped 00002.png'):
        assert [p.target_id for p in C.load_dffd_pairs(root, on_error='skip')] == ['00001']
    (root / 'faceapp/train/00001.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 64)
    with pytest.raises(FifaError, match='00001.png'): C.load_dffd_pairs(root)


def write_csv(path, text):
    path.write_text(text)
    return path


def test_dffd_csv_errors_name_the_file_and_line(fx, tmp_path):
    root = fx['dffd']
    good = 'faceapp/train/00001.png,ffhq/train/00001.png'
    cases = [
        (f'fake,real\n{good}\nfaceapp/train/00002.png,../outside.png\n', C.CorpusPathError, r"line 3 of .*climbs out"),
        (f'fake,real\n/etc/passwd,ffhq/train/00001.png\n', C.CorpusPathError, 'absolute path'),
        (f'fake;real\n{good}\n', C.CorpusError, 'needs the columns fake, real'),
        ('', C.CorpusError, 'needs the columns'),
        (f'fake,real\n{good}\nfaceapp/train/00002.png,\n', C.CorpusError, 'Line 3 .* no value for real'),
        (f'fake,real,mask\n{good},fifa_masks/../../x.png\n', C.CorpusPathError, "'..'"),
        ('fake,real\n"faceapp/train/00001.png,ffhq\n', C.CorpusError, 'no value for real|not valid CSV'),
    ]
    for i, (text, error, msg) in enumerate(cases):
        path = write_csv(tmp_path / f'pairs{i}.csv', text)
        with pytest.raises(error, match=msg): C.load_dffd_pairs(root, pairs=path)
    blank = write_csv(tmp_path / 'blank.csv', f'fake,real\n\n{good}\n\n')
    assert len(C.load_dffd_pairs(root, pairs=blank)) == 1
    with pytest.raises(C.CorpusError, match='missing'): C.load_dffd_pairs(root, pairs=tmp_path / 'none.csv')
    (tmp_path / 'latin.csv').write_bytes('fake,real\nfaceapp/train/\xe9.png,x.png\n'.encode('latin-1'))
    with pytest.raises(C.CorpusError, match='not UTF-8'): C.load_dffd_pairs(root, pairs=tmp_path / 'latin.csv')


def test_dffd_csv_symlink_escape(fx, tmp_path):
    root = copy(fx['dffd'], tmp_path, 'dffd')
    secret = tmp_path / 'secret.png'; save_image(np.zeros((256, 256, 3), np.uint8), secret)
    (root / 'ffhq/train/sneaky.png').symlink_to(secret)
    path = write_csv(tmp_path / 'p.csv', 'fake,real\nfaceapp/train/00001.png,ffhq/train/sneaky.png\n')
    with pytest.raises(C.CorpusPathError, match='outside the corpus folder'): C.load_dffd_pairs(root, pairs=path)
    (root / 'ffhq/train/00001.png').unlink()
    (root / 'ffhq/train/00001.png').symlink_to(secret)          # found by listing the folder: refused too
    with pytest.raises(C.CorpusPathError, match='outside'): C.load_dffd_pairs(root)


# ---------------------------------------------------------------- DD-VQA

def test_ddvqa_folder_split_and_file(fx):
    items = C.load_ddvqa(fx['ddvqa'], fx['ddvqa_images'], require_images=True)
    assert len(items) == 10
    assert len(C.load_ddvqa(fx['ddvqa'], split='train')) == 6
    df = [i for i in items if i.key == '0_000_003']
    assert [i.question_id for i in df] == ['0', '1', '2']
    first = df[0]
    assert (first.method, first.video_id, first.target_id, first.source_id, first.label) == ('Deepfakes', '000_003', '000', '003', 'fake')
    assert first.image_path == Path(fx['ddvqa_images']).resolve() / '0_000_003.png'
    assert first.answer == first.answers[0] and first.verdict == 'fake'
    orig = [i for i in items if i.key == '5_000'][0]
    assert (orig.method, orig.label, orig.target_id, orig.source_id) == ('Original', 'real', '000', None)
    parts = {(i.part, i.region) for i in items}
    assert ('eyes', 'eyes') in parts and ('mouth', 'mouth') in parts and ('image', 'image') in parts
    total = C.load_ddvqa(Path(fx['ddvqa']) / 'total_fake.json')
    assert {i.key for i in total} == {'0_000_003', '1_000_003', '6_000_003'} and all(i.image_path is None for i in total)


def test_ddvqa_parses_the_official_shapes():
    data = {'4_29829': {'0': {'question': 'Does the image looks real/fake?', 'answer': ['The image looks fake. It looks odd.']}},
            '2_114_102': {'3': {'question': "Do the person's eyebrows look real/fake?",
                                'answer': ["The person's eyebrows look fake.", 'They look fake.']}},
            '5_044': {'1': {'question': "Does the person's skin look real/fake?", 'answer': ["The person's skin looks real."]}}}
    items = C.parse_ddvqa(data)
    assert [(i.method, i.label, i.part, i.region, i.verdict) for i in items] == [
        ('manipulation_4', 'fake', 'image', 'image', 'fake'), ('FaceShifter', 'fake', 'eyebrows', 'eyebrows', 'fake'),
        ('Original', 'real', 'skin', None, 'real')]
    assert items[1].answers == ["The person's eyebrows look fake.", 'They look fake.']


def test_ddvqa_malformed_files_name_the_file(fx, tmp_path):
    full = (Path(fx['ddvqa']) / 'total_fake.json').read_text()
    cases = [(full[:len(full) // 2], 'not valid JSON'), ('[1, 2]', 'must hold a JSON object'),
             (json.dumps({'deepfake_1': {}}), "is not '<manipulation id>_<video id>'"),
             (json.dumps({'0_000_003': []}), 'must be an object of questions'),
             (json.dumps({'0_000_003': {'0': {'question': 'Q?', 'answer': []}}}), r'"answer": \[text'),
             (json.dumps({'0_000_003': {'0': {'question': 'Q?', 'answer': 'yes'}}}), r'"answer": \[text'),
             (json.dumps({'0_000_003': {'0': {'answer': ['yes']}}}), r'"question": text')]
    for i, (text, msg) in enumerate(cases):
        path = tmp_path / f'q{i}.json'; path.write_text(text)
        with pytest.raises(C.CorpusError, match=msg) as e: C.load_ddvqa(path)
        assert f'q{i}.json' in str(e.value)
    (tmp_path / 'bin.json').write_bytes(b'\xff\xfe\x00garbage')
    with pytest.raises(C.CorpusError, match='not UTF-8'): C.load_ddvqa(tmp_path / 'bin.json')
    with pytest.raises(C.CorpusError, match='does not exist'): C.load_ddvqa(tmp_path / 'missing.json')
    root = copy(fx['ddvqa'], tmp_path, 'DQ_FF++')
    (root / 'test_set/Face2Face/Face2Face.json').write_text(full[:50])
    with pytest.raises(C.CorpusError, match='Face2Face.json'): C.load_ddvqa(root)
    assert len(C.load_ddvqa(root, split='train')) == 6
    shutil.rmtree(root / 'test_set')
    with pytest.raises(C.CorpusError, match='test_set'): C.load_ddvqa(root)
    with pytest.raises(FifaError, match='split must be one of'): C.load_ddvqa(root, split='val')


def test_ddvqa_image_paths_stay_inside(fx, tmp_path):
    for pattern, msg in [('../{key}.png', "'..'"), ('/tmp/{key}.png', 'absolute'), ('{key}/../../x.png', "'..'")]:
        with pytest.raises(C.CorpusPathError, match=msg): C.load_ddvqa(fx['ddvqa'], fx['ddvqa_images'], image_pattern=pattern)
    with pytest.raises(FifaError, match='can not be filled'): C.load_ddvqa(fx['ddvqa'], fx['ddvqa_images'], image_pattern='{frame}.png')
    items = C.load_ddvqa(fx['ddvqa'], fx['ddvqa_images'], image_pattern='{method}/{video_id}.png')
    assert items[0].image_path.parts[-2:] == ('Deepfakes', '000_003.png')
    with pytest.raises(C.CorpusError, match='have no image file'):
        C.load_ddvqa(fx['ddvqa'], fx['ddvqa_images'], image_pattern='{method}/{video_id}.png', require_images=True)
    frames = copy(fx['ddvqa_images'], tmp_path, 'frames')
    (frames / '5_003.png').unlink()
    (frames / '5_003.png').symlink_to(Path(fx['celebamask']) / 'CelebA-HQ-img/0.jpg')
    with pytest.raises(C.CorpusPathError, match='outside the corpus folder'): C.load_ddvqa(fx['ddvqa'], frames)
    with pytest.raises(C.CorpusError, match='does not exist'): C.load_ddvqa(fx['ddvqa'], tmp_path / 'no_frames')


# ---------------------------------------------------------------- CelebAMask-HQ

def expected_parsing(root, image_id):
    "The label map built the way the authors' g_mask.py does: parts in order, later over earlier, label = index + 1."
    out = np.zeros((512, 512), np.uint8)
    for value, part in enumerate(CELEBAMASK_CLASSES[1:], start=1):
        path = Path(root) / 'CelebAMask-HQ-mask-anno' / str(image_id // 2000) / f'{image_id:05d}_{part}.png'
        if path.is_file(): out[np.asarray(Image.open(path))[:, :, 0] != 0] = value
    return out


@pytest.mark.parametrize('image_id', [0, 2001])
def test_celebamask_parsing_matches_the_official_rule(fx, image_id):
    small = C.celebamask_parsing(fx['celebamask'], image_id, size='masks')
    np.testing.assert_array_equal(small, expected_parsing(fx['celebamask'], image_id))
    sample = C.load_celebamask(fx['celebamask'], image_id)
    assert sample.image.shape == (1024, 1024, 3) and sample.parsing.shape == (1024, 1024) and sample.parsing.dtype == np.uint8
    np.testing.assert_array_equal(sample.parsing[::2, ::2], small)          # nearest neighbour, no new labels
    np.testing.assert_array_equal(sample.parsing[1::2, 1::2], small)
    assert {'skin', 'nose', 'hair', 'u_lip'} <= {CELEBAMASK_CLASSES[v] for v in np.unique(sample.parsing)}
    assert C.celebamask_parsing(fx['celebamask'], image_id, size=(100, 80)).shape == (100, 80)
    assert C.celebamask_part_path(fx['celebamask'], image_id, 'skin').name == f'{image_id:05d}_skin.png'
    assert 'skin' in repr(sample)


def test_celebamask_ids_and_splits(fx, tmp_path):
    assert C.celebamask_ids(fx['celebamask']) == [0, 2001]
    assert C.celebamask_ids(fx['celebamask'], 'train') == [0]
    assert C.celebamask_ids(fx['celebamask'], 'val') == []
    assert C.celebamask_ids(fx['celebamask'], 'test') == [2001]
    assert [s.image_id for s in C.iter_celebamask(fx['celebamask'], split='test')] == [2001]
    root = copy(fx['celebamask'], tmp_path)
    (root / 'CelebA-HQ-to-CelebA-mapping.txt').write_text('idx orig_idx orig_file\n0 abc 1.jpg\n')
    with pytest.raises(C.CorpusError, match='Line 2 of'): C.celebamask_ids(root, 'train')
    (root / 'CelebA-HQ-to-CelebA-mapping.txt').unlink()
    with pytest.raises(C.CorpusError, match='mapping file'): C.celebamask_ids(root, 'train')
    with pytest.raises(FifaError, match='split must be'): C.celebamask_ids(root, 'validation')


def test_celebamask_errors_name_the_file(fx, tmp_path):
    root = copy(fx['celebamask'], tmp_path)
    with pytest.raises(C.CorpusError, match='5.jpg'): C.load_celebamask(root, 5)
    with pytest.raises(FifaError, match='whole number'): C.load_celebamask(root, '0')
    with pytest.raises(FifaError, match='Unknown CelebAMask-HQ part'): C.celebamask_part_path(root, 0, 'eyes')
    with pytest.raises(C.CorpusError, match='02002_skin.png'): C.celebamask_parsing(root, 2002, size=(8, 8))
    (root / 'CelebA-HQ-img/2001.jpg').rename(tmp_path / '2001.jpg')
    with pytest.raises(C.CorpusError, match=r'2001\.jpg.* is missing'): C.celebamask_parsing(root, 2001)
    (tmp_path / '2001.jpg').rename(root / 'CelebA-HQ-img/2001.jpg')
    (root / 'CelebAMask-HQ-mask-anno/0/00000_nose.png').write_bytes(b'\x89PNG\r\n\x1a\nbroken')
    with pytest.raises(C.CorpusError, match='00000_nose.png.*corrupt'): C.celebamask_parsing(root, 0)
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(root / 'CelebAMask-HQ-mask-anno/1/02001_nose.png')
    with pytest.raises(C.CorpusError, match='02001_nose.png.*256x256'): C.celebamask_parsing(root, 2001)
    (root / 'CelebA-HQ-img/0.jpg').write_bytes(b'\xff\xd8\xff\xe0broken jpeg')
    with pytest.raises(FifaError, match='0.jpg'): C.load_celebamask(root, 0)
    shutil.rmtree(root / 'CelebAMask-HQ-mask-anno')
    with pytest.raises(C.CorpusError, match='CelebAMask-HQ-mask-anno'): C.celebamask_parsing(root, 2001)
    shutil.rmtree(root / 'CelebA-HQ-img')
    with pytest.raises(C.CorpusError, match='CelebA-HQ-img'): C.celebamask_ids(root)


def test_celebamask_symlinked_mask_outside_is_refused(fx, tmp_path):
    root = copy(fx['celebamask'], tmp_path, 'celeba')
    outside = tmp_path / 'outside.png'
    shutil.copy(root / 'CelebAMask-HQ-mask-anno/1/02001_hair.png', outside)
    (root / 'CelebAMask-HQ-mask-anno/1/02001_hair.png').unlink()
    (root / 'CelebAMask-HQ-mask-anno/1/02001_hair.png').symlink_to(outside)
    with pytest.raises(C.CorpusPathError, match='02001_hair.png'): C.celebamask_parsing(root, 2001)


def test_celebamask_concept_map(fx):
    sample = C.load_celebamask(fx['celebamask'], 2001)
    lm = fx['landmarks']['celebamask'][2001]
    cmap = C.celebamask_concept_map(sample, lm)
    assert cmap.shape == (1024, 1024) and cmap.approximate == set()
    parsed_hair = np.isin(sample.parsing, [13, 14])
    assert mask_iou(cmap.mask('hair'), parsed_hair) > 0.5
    x, y = lm.points[30].round().astype(int)
    assert sample.parsing[y, x] == CELEBAMASK_CLASSES.index('nose') and cmap.concept_at(x, y).name.startswith(('nose', 'columella'))
    found = C.celebamask_concept_map(sample, backend='opencv')
    assert found.shape == (1024, 1024)
    assert mask_iou(found.mask('face'), cmap.mask('face')) > 0.6


# ---------------------------------------------------------------- annotating corpus pairs

def test_annotate_pairs(fx):
    pytest.importorskip('fifa_nb.annotator', reason='fifa_nb.annotator (notebook 04) is not in this checkout yet')
    pairs = C.load_ffpp(fx['ffpp'], every=6, max_frames=1)
    out = list(C.annotate_pairs(pairs, landmarks=lambda p: fx['landmarks']['ffpp'][p.target_id]))
    assert [a.pair.id for a in out] == [p.id for p in pairs]
    for a in out:
        assert a.annotation.fake_id == a.pair.id and a.annotation.method == a.pair.method and a.annotation.family == a.pair.family
        assert (a.gt_iou is None) == (a.pair.gt_mask is None)
        if a.gt_iou is not None: assert 0 <= a.gt_iou <= 1
    swaps = [a for a in out if a.pair.family == 'identity_swap' and a.gt_iou is not None]
    assert swaps and all(a.annotation.verdict == 'fake' for a in swaps)
    assert max(a.gt_iou for a in swaps) > 0.3
    assert 'gt IoU' in repr(out[0])


def test_annotate_pairs_skips_faceless_pairs(fx):
    pytest.importorskip('fifa_nb.annotator', reason='fifa_nb.annotator (notebook 04) is not in this checkout yet')
    pair = C.load_ffpp(fx['ffpp'], ['Deepfakes'], max_frames=1)[0]
    blank = C.CorpusPair(np.full((256, 256, 3), 128, np.uint8), np.full((256, 256, 3), 120, np.uint8), None,
                         'test', 'attribute', None, 'blank', None, 'test')
    with pytest.raises(FifaError): list(C.annotate_pairs([blank], backend='opencv'))
    with pytest.warns(C.CorpusWarning, match='Skipped test/blank'):
        out = list(C.annotate_pairs([blank, pair], landmarks=lambda p: None if p is blank else fx['landmarks']['ffpp']['000'],
                                    backend='opencv', on_error='skip'))
    assert [a.pair.id for a in out] == [pair.id]
