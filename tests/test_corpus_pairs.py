"""Checks of fifa_nb.corpus_pairs on the corpus fixtures (fifa_nb.corpus_fixtures), written into temporary folders.

nbs/06b_corpus_pairs.ipynb holds the readable examples; this file holds the cases in depth: counts per corpus and
sampling, provenance, alignment of shifted fakes (stills and videos) and its rejections, truth-mask IoU, wrong
layouts, damaged files, refusals of the annotator, and the results script. No network.
"""
import json, shutil, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest

from fifa_nb.core import FifaError, load_image, save_image
from fifa_nb.masks import mask_iou
from fifa_nb.landmarks import cut_box
from fifa_nb.corpora import CorpusError, CorpusWarning, read_video_frames, write_video
from fifa_nb.corpus_fixtures import make_corpus_fixtures
from fifa_nb import corpus_pairs as P
from fifa_nb.corpus_pairs import corpus_pairs, annotate_corpus, PairRejected

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    "All four fixtures, written once (tests that change files work on copies)."
    return make_corpus_fixtures(tmp_path_factory.mktemp('corpus_pairs') / 'fixtures')


def quiet(fn, *args, **kwargs):
    "fn(...), returning (result, CorpusWarnings given)."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = fn(*args, **kwargs)
    return out, [w for w in caught if issubclass(w.category, CorpusWarning)]


def moved(image, dx, dy, pad='edge'):
    "`image` with its content moved right by dx and down by dy pixels (the size kept)."
    h, w = image.shape[:2]
    return cut_box(image, (-dx, -dy, w - dx, h - dy), pad)


def copy(src, tmp_path, name=None):
    dest = tmp_path / (name or Path(src).name)
    shutil.copytree(src, dest)
    return dest


# ---------------------------------------------------------------- listing

def test_items_per_corpus_and_frame_sampling(fx):
    for every, most, expected in [(10, 4, [0]), (2, 4, [0, 2, 4]), (1, 4, [0, 1, 2, 3]), (1, None, [0, 1, 2, 3, 4, 5]), (3, 1, [0])]:
        items = corpus_pairs('ffpp', fx['ffpp'], every, most, progress=False)
        assert len(items) == 6 * len(expected), (every, most)
        for name in {i.fake for i in items}: assert sorted(i.frame for i in items if i.fake == name) == expected
    items = corpus_pairs('ffpp', fx['ffpp'], 2, progress=False)
    assert {i.kind for i in items} == {'pair'} and not items.rejected
    assert sum(i.mask is not None for i in items) == 15 and all(i.mask is None for i in items if i.method == 'FaceShifter')
    assert len(corpus_pairs('ffpp', fx['ffpp'], 1, limit=7, progress=False)) == 7
    assert len(corpus_pairs('ffpp', fx['ffpp'], 2, methods=['Face2Face'], progress=False)) == 3
    assert len(corpus_pairs('dffd', fx['dffd'], pairs=fx['dffd_pairs'], progress=False)) == 4
    assert [i.split for i in corpus_pairs('dffd', fx['dffd'], split='train', progress=False)] == ['train', 'train']
    assert len(corpus_pairs('celebamask', fx['celebamask'], progress=False)) == 2
    assert [i.parsing_id for i in corpus_pairs('celebamask', fx['celebamask'], ids=[2001], progress=False)] == [2001]
    ddvqa = corpus_pairs('ddvqa', fx['ddvqa'], 2, ffpp_root=fx['ffpp'], progress=False)
    assert (len(ddvqa), sum(i.kind == 'real' for i in ddvqa)) == (15, 6)
    assert len(corpus_pairs('ddvqa', fx['ddvqa'], 2, ffpp_root=fx['ffpp'], split='test', progress=False)) == 6
    frames = corpus_pairs('ddvqa', fx['ddvqa'], image_root=fx['ddvqa_images'], progress=False)
    assert [(i.kind, i.qa_key) for i in frames] == [('pair', '0_000_003'), ('real', '5_000'), ('real', '5_003'),
                                                    ('pair', '1_000_003'), ('pair', '6_000_003')]


def test_same_name_pairing_rejects_a_fake_without_its_real(fx):
    items, caught = quiet(corpus_pairs, 'dffd', fx['dffd'], progress=False)
    assert len(items) == 4 and len(items.rejected) == 1 and len(caught) == 1
    assert 'no same-name real image' in items.rejected[0]['reason']


def test_provenance(fx, tmp_path):
    item = corpus_pairs('ffpp', fx['ffpp'], 2, progress=False)[4]
    d = json.loads(json.dumps(item.to_dict()))
    assert (d['id'], d['real_id']) == ('ffpp/Deepfakes/c23/003_000#2', 'ffpp/youtube/c23/003#2')
    assert (d['person'], d['source_person'], d['method'], d['family'], d['frame']) == ('ffpp/003', 'ffpp/000', 'Deepfakes', 'identity_swap', 2)
    assert d['real'] == 'original_sequences/youtube/c23/videos/003.mp4' and d['mask'] == 'manipulated_sequences/Deepfakes/masks/videos/003_000.mp4'
    assert 'FaceForensics++ Terms of Use' in d['licence']
    dffd = corpus_pairs('dffd', fx['dffd'], pairs=fx['dffd_pairs'], progress=False)[0]
    assert (dffd.person, dffd.method, dffd.family, dffd.mask) == ('dffd/ffhq/train/00001', 'faceapp', 'attribute', 'fifa_masks/faceapp/train/00001.png')
    qa = corpus_pairs('ddvqa', fx['ddvqa'], 2, ffpp_root=fx['ffpp'], progress=False)[0]
    assert qa.qa_key == '0_000_003' and len(qa.qa) == 3 and qa.qa[0][1].startswith('The image looks fake')
    assert 'DD-VQA question files' in qa.licence and json.dumps(qa.to_dict())
    celeba = copy(fx['celebamask'], tmp_path)
    assert [i.person for i in corpus_pairs('celebamask', celeba, progress=False)] == ['celebamask/0', 'celebamask/2001']
    (celeba / 'identity_CelebA.txt').write_text('001001.jpg 17\n190001.jpg 42\n')   # CelebA's identity file, copied in
    assert [i.person for i in corpus_pairs('celebamask', celeba, progress=False)] == ['celeba/17', 'celeba/42']


# ---------------------------------------------------------------- loading and alignment

def test_load_gives_crops_and_truth(fx):
    items = corpus_pairs('ffpp', fx['ffpp'], 2, progress=False)
    pair = items[4].load(size=128)
    assert pair.real.shape == pair.fake.shape == (128, 128, 3) and pair.truth.shape == (128, 128)
    assert (pair.shift, pair.fake_frame, pair.residual) == ((0, 0), 2, 0.0) and 0.05 < pair.truth.mean() < 0.5
    changed = np.abs(pair.fake.astype(int) - pair.real).max(-1) > 20
    assert mask_iou(changed, pair.truth) > 0.5                      # the truth lies where the fake differs
    real = corpus_pairs('celebamask', fx['celebamask'], progress=False)[1].load()
    assert real.fake is None and real.truth is None and real.parsing.shape == (256, 256) and len(np.unique(real.parsing)) > 5
    lm = fx['landmarks']['dffd']['00001']                            # landmarks given instead of detected
    given = corpus_pairs('dffd', fx['dffd'], pairs=fx['dffd_pairs'], progress=False)[0].load(landmarks=lm)
    assert np.allclose(given.landmarks.points, P.crop_face(load_image(Path(fx['dffd']) / 'ffhq/train/00001.png'), lm)[1].points)


def shifted_dffd(fx, tmp_path, dx, dy):
    "A copy of the DFFD fixture whose first fake (and its mask, in the fake's geometry) is moved by (dx, dy)."
    root = copy(fx['dffd'], tmp_path, 'DFFD')
    csv = tmp_path / 'pairs.csv'; shutil.copy(fx['dffd_pairs'], csv)
    for rel, pad in (('faceapp/train/00001.png', 'edge'), ('fifa_masks/faceapp/train/00001.png', 'zero')):
        save_image(moved(load_image(root / rel), dx, dy, pad), root / rel, overwrite=True)
    return corpus_pairs('dffd', root, pairs=csv, progress=False)[0]


def test_a_shifted_fake_is_aligned(fx, tmp_path):
    plain = corpus_pairs('dffd', fx['dffd'], pairs=fx['dffd_pairs'], progress=False)[0]
    a, b = plain.load(), shifted_dffd(fx, tmp_path, 4, -3).load()
    assert (a.shift, b.shift) == ((0, 0), (4, -3)) and b.residual <= 1
    assert np.abs(a.fake.astype(int) - b.fake).mean() < 1 and mask_iou(a.truth, b.truth) > 0.97
    (ra,), _ = annotate_corpus([plain], progress=False)
    (rb,), _ = annotate_corpus([b.item], progress=False)
    assert ra.iou > 0.4 and abs(ra.iou - rb.iou) < 0.03 and rb.shift == (4, -3)
    # without the correction (max_shift=0) the moved fake does not line up
    with pytest.raises(PairRejected, match='more than max_shift'): b.item.load(max_shift=0)


def test_shifts_beyond_the_limit_and_other_pictures_are_rejected(fx, tmp_path):
    far = shifted_dffd(fx, tmp_path / 'far', 30, 0)
    with pytest.raises(PairRejected, match=r'dffd/faceapp/train/00001: the fake does not line up .*more than max_shift'): far.load()
    assert far.load(max_shift=0.2).shift == (30, 0)                  # the limit is a setting
    root = copy(fx['dffd'], tmp_path / 'other', 'DFFD')
    shutil.copy(root / 'ffhq/train/00002.png', root / 'faceapp/train/00001.png')          # another person's photo
    item = P.CorpusItem('dffd', 'pair', root, 'ffhq/train/00001.png', 'faceapp/train/00001.png')
    with pytest.raises(PairRejected, match='does not line up'): item.load()
    save_image(load_image(root / 'ffhq/train/00001.png')[:200], root / 'faceapp/train/00001.png', overwrite=True)
    with pytest.raises(PairRejected, match='not one geometry'): item.load()
    (rec,), table = annotate_corpus([item], progress=False)
    assert rec.status == 'rejected' and rec.reason.startswith('load: ') and table[0]['rejected'] == 1


def test_a_shifted_fake_video_is_aligned_with_its_mask(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path)
    for rel in ('manipulated_sequences/Face2Face/c23/videos/000_003.mp4', 'manipulated_sequences/Face2Face/masks/videos/000_003.mp4'):
        frames = [f for _, f in read_video_frames(root / rel)]
        write_video(root / rel, [moved(f, -3, 2, 'zero' if 'masks' in rel else 'edge') for f in frames])
    plain = corpus_pairs('ffpp', fx['ffpp'], 2, methods=['Face2Face'], progress=False)[1].load()
    shifted = corpus_pairs('ffpp', root, 2, methods=['Face2Face'], progress=False)[1].load()
    assert (plain.shift, shifted.shift, shifted.fake_frame) == ((0, 0), (-3, 2), 2)
    assert mask_iou(plain.truth, shifted.truth) > 0.9


def test_a_fake_video_one_frame_late_uses_the_neighbour_frame(fx, tmp_path):
    import cv2
    face = load_image(Path(fx['ddvqa_images']) / '5_003.png')
    h, w = face.shape[:2]
    clip = [cv2.warpAffine(face, cv2.getRotationMatrix2D((w / 2, h / 2), 3.0 * t, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT) for t in range(6)]
    write_video(tmp_path / 'original_sequences/youtube/c23/videos/003.mp4', clip[:5])
    write_video(tmp_path / 'manipulated_sequences/FaceSwap/c23/videos/003_000.mp4', clip[1:])
    items = corpus_pairs('ffpp', tmp_path, 1, 5, progress=False)
    assert [i.load().fake_frame for i in items[1:]] == [0, 1, 2, 3]
    with pytest.raises(PairRejected, match='were tried'): items[0].load()
    with pytest.raises(PairRejected, match='does not line up'): items[2].load(frame_search=0)


# ---------------------------------------------------------------- annotation and IoU

def test_annotate_corpus_scores_against_the_truth(fx):
    items = corpus_pairs('ffpp', fx['ffpp'], progress=False) + corpus_pairs('celebamask', fx['celebamask'], ids=[0], progress=False)
    records, table = annotate_corpus(items, keep_images=False, progress=False)
    assert [r.status for r in records] == ['annotated'] * 7
    assert all(r.pair is None and r.annotation is None for r in records)
    ious = {r.item.method: r.iou for r in records}
    assert ious['FaceShifter'] is None and ious[None] is None and all(0.3 < ious[m] <= 1 for m in ('Deepfakes', 'FaceSwap', 'Face2Face'))
    assert records[-1].verdict == 'real' and all(r.verdict == 'fake' for r in records[:-1])
    rows = {(row['corpus'], row['method']): row for row in table}
    assert rows['ffpp', 'all']['items'] == 6 and rows['ffpp', 'all']['with_truth'] == 5
    assert rows['ffpp', 'Deepfakes']['mean_iou'] == pytest.approx(np.mean([r.iou for r in records if r.item.method == 'Deepfakes']), abs=1e-3)
    assert rows['celebamask', 'real']['called_fake'] == 0
    md = P.table_markdown(table)
    assert md.splitlines()[0].startswith('| corpus | method | items') and '| ffpp | FaceShifter | 1 | 0 | 1 | 0 | - | - |' in md
    json.dumps([r.to_dict() for r in records])


def test_a_refusal_of_the_annotator_is_a_rejection(fx, monkeypatch):
    def refuse(*args, **kwargs): raise FifaError('not an aligned pair')
    monkeypatch.setattr(P, 'annotate', refuse)
    (rec,), _ = annotate_corpus(corpus_pairs('ffpp', fx['ffpp'], limit=1, progress=False), progress=False)
    assert rec.status == 'rejected' and rec.reason == 'annotate: FifaError: not an aligned pair'


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize('name,where,options,message', [
    ('ffpp', 'dffd', {}, 'original_sequences/youtube/c23/videos'),
    ('ffpp', 'ffpp', dict(compression='c40'), "pass compression='c23'"),
    ('dffd', 'ffpp', {}, 'Is root= the DFFD folder'),
    ('dffd', 'dffd', dict(pairs='missing.csv'), 'is missing'),
    ('celebamask', 'dffd', {}, 'CelebA-HQ-img'),
    ('ddvqa', 'ddvqa', {}, 'ffpp_root='),
    ('ddvqa', 'ffpp', dict(ffpp_root='ffpp'), 'the DQ_FF++ folder'),
    ('ddvqa', 'ddvqa', dict(ffpp_root='dffd'), 'original_sequences/youtube/c23/videos'),
])
def test_wrong_layouts_say_what_is_missing(fx, name, where, options, message):
    options = {k: (fx[v] if v in fx else v) for k, v in options.items()}
    with pytest.raises(CorpusError, match=message.replace('(', r'\(').replace('+', r'\+')):
        corpus_pairs(name, fx[where], progress=False, **options)


def test_wrong_arguments(fx, tmp_path):
    with pytest.raises(FifaError, match="fifa_nb reads 'ffpp'"): corpus_pairs('faceforensics', fx['ffpp'])
    with pytest.raises(FifaError, match='does not exist'): corpus_pairs('ffpp', tmp_path / 'nowhere')
    with pytest.raises(FifaError, match='takes the options methods'): corpus_pairs('ffpp', fx['ffpp'], split='train')
    with pytest.raises(FifaError, match='one of the two'): corpus_pairs('ddvqa', fx['ddvqa'], ffpp_root=fx['ffpp'], image_root=fx['ddvqa_images'])
    for kw in (dict(frames_every=0), dict(max_frames_per_video=0), dict(limit=-1), dict(frames_every=True)):
        with pytest.raises(FifaError, match='must be a whole number'): corpus_pairs('ffpp', fx['ffpp'], **kw)
    with pytest.raises(FifaError, match='split must be'): corpus_pairs('dffd', fx['dffd'], split='val')
    with pytest.raises(FifaError, match='whole numbers'): corpus_pairs('celebamask', fx['celebamask'], ids=['7'])


def test_damaged_files_are_rejections_not_tracebacks(fx, tmp_path):
    root = copy(fx['ffpp'], tmp_path)
    (root / 'manipulated_sequences/FaceSwap/c23/videos/003_000.mp4').write_bytes(b'not a video')
    items, caught = quiet(corpus_pairs, 'ffpp', root, 2, progress=False)
    assert len(items) == 15 and len(caught) == 1 and 'can not open the video' in items.rejected[0]['reason']
    (root / 'manipulated_sequences/Deepfakes/c23/videos/000_003.mp4').write_bytes(b'\0' * 64)       # damaged after listing
    (root / 'manipulated_sequences/Face2Face/masks/videos/000_003.mp4').write_bytes(b'\0' * 64)
    (root / 'original_sequences/youtube/c23/videos/003.mp4').unlink()                                # gone after listing
    pick = {(i.method, i.real) for i in items if i.frame == 0}
    chosen = [next(i for i in items if i.frame == 0 and (i.method, i.real) == key) for key in sorted(pick)]
    records, _ = annotate_corpus(chosen, progress=False)
    by = {(r.item.method, r.item.real.split('/')[-1]): r for r in records}
    assert by['Deepfakes', '000.mp4'].status == 'rejected' and 'can not open' in by['Deepfakes', '000.mp4'].reason
    assert by['Face2Face', '000.mp4'].status == 'rejected' and 'masks/videos' in by['Face2Face', '000.mp4'].reason
    assert by['Deepfakes', '003.mp4'].status == 'rejected' and 'is missing' in by['Deepfakes', '003.mp4'].reason
    assert by['NeuralTextures', '000.mp4'].status == 'annotated'
    dffd = copy(fx['dffd'], tmp_path)
    (dffd / 'faceapp/train/00002.png').write_bytes(b'\x89PNG broken')
    save_image(np.full((256, 256, 3), 128, np.uint8), dffd / 'ffhq/validation/00003.png', overwrite=True)            # no face in the real
    records, _ = annotate_corpus(corpus_pairs('dffd', dffd, pairs=fx['dffd_pairs'], progress=False), progress=False)
    assert [r.status for r in records] == ['annotated', 'rejected', 'rejected', 'annotated']
    assert 'faceapp/train/00002.png' in records[1].reason and 'dffd/faceapp/validation/00003' in records[2].reason
    frames = copy(fx['ddvqa_images'], tmp_path)
    (frames / '5_000.png').unlink()
    items, _ = quiet(corpus_pairs, 'ddvqa', fx['ddvqa'], image_root=frames, progress=False)
    assert len(items) == 1 and len(items.rejected) == 4 and all('5_000.png' in r['reason'] for r in items.rejected)


# ---------------------------------------------------------------- the results script

def test_results_script_on_the_fixtures(tmp_path):
    out = tmp_path / 'iou'
    run = subprocess.run([sys.executable, str(ROOT / 'scripts/corpus_annotator_iou.py'), '--limit', '1', '--out', str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    md, data = (out.parent / 'iou.md').read_text(), json.loads((out.parent / 'iou.json').read_text())
    assert 'SYNTHETIC FORMAT FIXTURES' in md and 'NOT a measurement' in md and '| ffpp | Deepfakes | 1 |' in md
    assert data['source'] == 'synthetic format fixtures' and [l['items'] for l in data['listings']] == [1, 1, 1, 1]
    assert len(data['items']) == 4 and data['items'][0]['iou'] is not None
    again = subprocess.run([sys.executable, str(ROOT / 'scripts/corpus_annotator_iou.py'), '--out', str(out)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert again.returncode == 2 and 'pass --force' in again.stderr
    bad = subprocess.run([sys.executable, str(ROOT / 'scripts/corpus_annotator_iou.py'), '--corpus', 'ffpp', str(tmp_path / 'none'),
                          '--out', str(tmp_path / 'x')], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith('error: ') and 'Traceback' not in bad.stderr
