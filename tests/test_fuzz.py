"""Property-based and fuzz tests of every public entry point that takes outside data (issue 7).

Each test feeds hypothesis-made inputs (random bytes, mutated valid files, garbled JSON records, markup fragments,
odd arrays and argument lists) to one entry point, which must end in a result or a fifa_nb error with a message
(`FifaError`; for the command line exit code 1 or 2 with a message) - never another exception, a hang or a memory
blow-up. Properties are checked where there is one (the RLE round trip, `age_phrases` agreeing with its regex).

The default is bounded (the whole file takes about a minute on 2 cores); FIFA_NB_FUZZ_EXAMPLES=N runs N examples per
test instead (e.g. 2000 for a long run). scripts/fuzz.py is the bigger driver: thousands of inputs per target in a
memory-capped worker, plus coverage-guided fuzzing with atheris; its counts are in results/fuzz.md.

Every bug these tests found is fixed; the @example lines keep the inputs that first showed them.
"""
import importlib.util, io, json, os, re, subprocess, sys, textwrap, time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from fifa_nb.core import (FifaError, ImageError, MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS, load_image, max_pixels_limit, read_json,
                          set_max_pixels)
from fifa_nb.masks import as_mask, rle_decode, rle_encode, validate_box

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('fifa_nb_fuzz_script', ROOT / 'scripts' / 'fuzz.py')
F = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(F)   # the seeds and mutations of scripts/fuzz.py

SCALE = int(os.environ.get('FIFA_NB_FUZZ_EXAMPLES', '0') or 0)
pytestmark = pytest.mark.filterwarnings('ignore::UserWarning', 'ignore::DeprecationWarning', 'ignore::RuntimeWarning')   # damaged inputs warn a lot


def fuzz_settings(n):
    "`n` examples by default, FIFA_NB_FUZZ_EXAMPLES when set; no deadline (a first call may import torch), no example database."
    return settings(max_examples=SCALE or n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


def refused_or(call):
    "call(): its result, or None when it raised a FifaError with a message; any other exception fails the test."
    try: return call()
    except FifaError as e:
        assert str(e).strip(), f'{type(e).__name__} without a message'
        return None


IMAGE_SEEDS = F.image_seeds()
json_leaves = (st.none() | st.booleans() | st.integers() | st.just(10 ** 400) | st.floats()
               | st.lists(st.sampled_from(['a', '<p>', '[SEG]', ' ', '\x00', 'é', '9']), max_size=8).map(''.join) | st.text(max_size=8))
json_values = st.recursive(json_leaves, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.sampled_from(F.KEY_BITS) | st.text(max_size=4), kids, max_size=4), max_leaves=12)


def garbled(record):
    "A strategy of `record` (a JSON dict) with one to three fields replaced by any JSON value, deleted or added."
    @st.composite
    def edit(draw):
        d = json.loads(json.dumps(record))
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(sorted(d)) | st.sampled_from(F.KEY_BITS)) if d else draw(st.sampled_from(F.KEY_BITS))
            if draw(st.booleans()) and key in d: del d[key]
            else: d[key] = draw(json_values)
        return d
    return edit()


def mutated(seeds):
    "A strategy of a seed mutated by scripts/fuzz.py's byte edits (flips, truncation, inserts, header integers, splices)."
    return st.builds(lambda i, s: F.mutate_bytes(np.random.default_rng(s), seeds[i], seeds),
                     st.integers(0, len(seeds) - 1), st.integers(0, 2 ** 32 - 1))

# ----------------------------------------------------------------------------------------------------------------------
# images


def check_image(a):
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and a.flags.c_contiguous


@fuzz_settings(800)
@given(st.binary(max_size=3000))
def test_load_image_random_bytes(data):
    out = refused_or(lambda: load_image(data, min_side=1))
    if out is not None: check_image(out)


@fuzz_settings(1500)
@given(mutated(IMAGE_SEEDS))
def test_load_image_mutated_files(data):
    "Bit-flipped, truncated and spliced PNG, JPEG, GIF, TIFF, WebP, BMP and PPM files, and headers declaring huge sizes."
    out = refused_or(lambda: load_image(data, min_side=1))
    if out is not None: check_image(out)


@fuzz_settings(400)
@given(st.integers(0, len(IMAGE_SEEDS) - 1), st.floats(0, 1))
def test_load_image_truncated_files(i, share):
    out = refused_or(lambda: load_image(IMAGE_SEEDS[i][:int(len(IMAGE_SEEDS[i]) * share)], min_side=1))
    if out is not None: check_image(out)


odd_dtypes = st.sampled_from(['?', 'u1', 'u2', 'u4', 'i1', 'i2', 'i8', 'f2', 'f4', 'f8', 'c8', 'U2', 'S2', 'M8[s]', 'O', '>u2'])


@fuzz_settings(500)
@given(odd_dtypes.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=12),
                                                  elements=st.none() if dt == 'O' else None)))
def test_load_image_odd_arrays(a):
    out = refused_or(lambda: load_image(a, min_side=1))
    if out is not None: check_image(out)
    refused_or(lambda: as_mask(a))


@fuzz_settings(300)
@given(st.sampled_from(F.PIL_MODES), st.integers(0, 30), st.integers(0, 30), st.binary(min_size=1, max_size=64))
def test_load_image_pil_modes(mode, w, h, data):
    try: im = Image.frombytes(mode, (w, h), (data * (w * h * 8 // len(data) + 1))[:w * h * 8])
    except (ValueError, SystemError): im = Image.new('L', (w, h))
    out = refused_or(lambda: load_image(im, min_side=1))
    if out is not None: check_image(out)


path_parts = st.sampled_from(['', '.', '..', '/', '~', '~no_such_user_here', 'x' * 300, '\x00', '\udcff', '.png', 'face', '/dev/null',
                              '/etc', 'http://example.com/a.png', 'C:\\a.png', ' '])


@fuzz_settings(300)
@given(st.lists(path_parts | st.text(max_size=6), min_size=1, max_size=5).map(''.join))
def test_load_image_odd_paths(tmp_path, monkeypatch, path):
    "File names with NUL bytes, 300 characters, ~user, lone surrogates, folders and devices: a clear ImageError."
    monkeypatch.chdir(tmp_path)   # an empty folder: no relative name can be a real file
    with pytest.raises(FifaError) as e: load_image(path)
    assert str(e.value).strip()
    with pytest.raises(FifaError): read_json(path)


@pytest.mark.skipif(not hasattr(os, 'mkfifo'), reason='named pipes are a POSIX thing')
def test_pipes_and_devices_are_refused(tmp_path):
    "A named pipe (a tar archive may hold one) would block the reader forever: refused before it is opened."
    os.mkfifo(tmp_path / 'face.png')
    code = f'''from fifa_nb.core import load_image, read_json, FifaError
for call in (lambda: load_image({str(tmp_path / 'face.png')!r}), lambda: read_json({str(tmp_path / 'face.png')!r}), lambda: load_image('/dev/zero')):
    try: call()
    except FifaError as e: assert 'not a regular file' in str(e) or 'not a file' in str(e), e
print('ok')'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == 'ok', out.stderr[-2000:]


@pytest.mark.parametrize('kind, size', [('png', 100_000), ('gif', 65_000), ('tiff', 100_000), ('bmp', 100_000), ('png', 8000),
                                        ('gif', 8000), ('tiff', 8000), ('bmp', 8000), ('jpeg', 65_000), ('jpeg', 8000),
                                        ('webp', 16_384), ('webp', 8000), ('ppm', 100_000)])
def test_decompression_bombs_refused_before_decoding(kind, size, monkeypatch):
    "A file of a few bytes declaring a huge image: refused from its header, at once, saying the limit and how to raise it."
    data = bomb(kind, size, size)
    from PIL import ImageFile
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, 'load', lambda self: decoded.append(self.size))   # no pixel may be decoded
    start = time.perf_counter()
    with pytest.raises(ImageError) as e: load_image(data)
    assert time.perf_counter() - start < 1 and decoded == [] and len(data) < 2000
    message = str(e.value)
    assert f'max_pixels={DEFAULT_MAX_PIXELS:,}' in message and MAX_PIXELS_ENV in message, message


def bomb(kind, w, h):
    "A small file of format `kind` whose header declares w x h pixels."
    if kind == 'jpeg':   # a real JPEG with its frame header patched
        buf = io.BytesIO(); Image.new('RGB', (16, 16)).save(buf, 'JPEG'); data = bytearray(buf.getvalue())
        i = data.index(b'\xff\xc0'); data[i + 5:i + 9] = h.to_bytes(2, 'big') + w.to_bytes(2, 'big'); return bytes(data)
    if kind == 'webp':   # a real lossless WebP with its 14-bit sizes patched
        buf = io.BytesIO(); Image.new('RGB', (16, 16)).save(buf, 'WEBP', lossless=True); data = bytearray(buf.getvalue())
        i = data.index(b'VP8L') + 9
        bits = (int.from_bytes(data[i:i + 4], 'little') & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)
        data[i:i + 4] = bits.to_bytes(4, 'little'); return bytes(data)
    if kind == 'ppm': return f'P6 {w} {h} 255\n'.encode()
    return _header(kind, w, h)


def _header(kind, w, h):
    data = {'png': F.crafted_headers()[0], 'gif': F.crafted_headers()[3], 'tiff': F.crafted_headers()[6], 'bmp': F.crafted_headers()[9]}[kind]
    import struct, zlib
    if kind == 'png':
        ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
        return data[:8] + struct.pack('>I', 13) + b'IHDR' + ihdr + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr)) + data[33:]
    if kind == 'gif': return data[:6] + struct.pack('<HH', w, h) + data[10:18] + struct.pack('<HH', w, h) + data[22:]
    if kind == 'tiff':
        return data.replace(struct.pack('<HHII', 256, 4, 1, 8000), struct.pack('<HHII', 256, 4, 1, w)).replace(
            struct.pack('<HHII', 257, 4, 1, 8000), struct.pack('<HHII', 257, 4, 1, h))
    return data[:18] + struct.pack('<ii', w, h) + data[26:]


def test_bomb_costs_no_memory():
    "Under a 300 MB address-space cap above the interpreter's start, every bomb is still refused by the size check (not by a MemoryError)."
    script = textwrap.dedent(f'''
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'tests')!r})
        import test_fuzz as T
        from fifa_nb.core import load_image, ImageError
        datas = [T.bomb(k, s, s) for k in ('png', 'gif', 'tiff', 'bmp', 'jpeg', 'webp', 'ppm') for s in (8000, 16_384)]
        vm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize')][0]
        resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
        for d in datas:
            try: load_image(d)
            except ImageError as e: assert 'pixels' in str(e) and 'memory' not in str(e), str(e)
            else: raise SystemExit('a bomb was decoded')
        print('ok', len(datas))''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith('ok'), out.stderr[-3000:]


def test_pixel_limit_is_configurable(monkeypatch):
    png = IMAGE_SEEDS[0]   # 24 x 20 = 480 pixels
    monkeypatch.setenv(MAX_PIXELS_ENV, '400')
    assert max_pixels_limit() == 400
    with pytest.raises(ImageError, match='more than max_pixels=400'): load_image(png)
    with pytest.raises(FifaError, match='more than max_pixels=400'): rle_decode(rle_encode(np.zeros((20, 24), bool)))
    assert load_image(png, max_pixels=480).shape == (20, 24, 3)   # an argument wins over the environment
    previous = set_max_pixels(10_000)   # and the setter wins over the environment
    try: assert load_image(png).shape == (20, 24, 3) and max_pixels_limit() == 10_000
    finally: set_max_pixels(previous)
    monkeypatch.setenv(MAX_PIXELS_ENV, 'ten million')
    with pytest.raises(ImageError, match=f'{MAX_PIXELS_ENV} must be a whole number'): load_image(png)
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert max_pixels_limit() == DEFAULT_MAX_PIXELS
    with pytest.raises(ImageError, match='max_pixels must be a whole number'): load_image(png, max_pixels=-5)

# ----------------------------------------------------------------------------------------------------------------------
# masks and boxes


@fuzz_settings(500)
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=40)))
def test_rle_round_trip(mask):
    rle = rle_encode(mask)
    assert json.loads(json.dumps(rle)) == rle
    back = rle_decode(rle)
    assert back.shape == mask.shape and np.array_equal(back, mask)
    from fifa_nb.masks import _run_lengths
    assert np.array_equal(rle_decode({'size': rle['size'], 'counts': _run_lengths(mask)}), mask)   # the uncompressed form too


@fuzz_settings(1000)
@given(json_values | garbled({'size': [3, 4], 'counts': 'R1'}) | st.fixed_dictionaries(
    {'size': st.lists(st.integers(-2, 10 ** 6) | json_leaves, max_size=3), 'counts': json_values | st.text(max_size=30)}))
@example({'size': [1, 1], 'counts': [float('inf')]}).via('a run length of infinity')
@example({'size': [100_000, 100_000], 'counts': [10 ** 10]}).via('a 10 GB mask in 30 bytes')
@example({'size': [0, 10 ** 83], 'counts': []}).via('no pixels, but a side numpy can not make')
def test_rle_decode_garbage(rle):
    mask = refused_or(lambda: rle_decode(rle))
    if mask is not None:
        assert mask.dtype == bool and list(mask.shape) == [int(v) for v in rle['size']]
        assert np.array_equal(rle_decode(rle_encode(mask)), mask)


@fuzz_settings(500)
@given(json_values | st.lists(st.integers() | st.floats() | st.just(10 ** 400), min_size=4, max_size=4))
@example([0, 0, 10 ** 400, 5]).via('a coordinate beyond float range')
def test_validate_box_garbage(box):
    from fifa_nb.masks import box_area, expand_box, round_box
    out = refused_or(lambda: validate_box(box))
    if out is not None:
        assert len(out) == 4 and out[0] < out[2] and out[1] < out[3]
        box_area(out); round_box(out); expand_box(out, 1.3, (64, 64))

# ----------------------------------------------------------------------------------------------------------------------
# JSON records: landmarks, annotations, samples


LANDMARKS = json.loads((ROOT / 'data_samples' / 'astronaut.ibug68.json').read_text())


@fuzz_settings(600)
@given(garbled(LANDMARKS))
@example({**LANDMARKS, 'layout': ['ibug68']}).via('an unhashable layout')
@example({**LANDMARKS, 'box': 5}).via('a box that is a number')
def test_landmarks_from_garbled_dict(d):
    from fifa_nb.landmarks import Landmarks
    lm = refused_or(lambda: Landmarks.from_dict(d))
    if lm is not None: repr(lm); Landmarks.from_dict(lm.to_dict())


@fuzz_settings(300)
@given(mutated([json.dumps(LANDMARKS).encode()]) | st.binary(max_size=200) | st.just(b'[' * 100_000))
def test_landmarks_from_damaged_file(tmp_path_factory, data):
    from fifa_nb.landmarks import Landmarks
    path = tmp_path_factory.mktemp('lm') / 'face.ibug68.json'; path.write_bytes(data)
    refused_or(lambda: Landmarks.from_json(path))


ANNOTATION = F.annotation_record()


@fuzz_settings(600)
@given(garbled(ANNOTATION))
@example({**ANNOTATION, 'concepts': 5}).via('concepts not a list')
@example({**ANNOTATION, 'text': '<p>the chin</p> [SEG]'}).via('a grounded phrase without a mask')
def test_annotation_from_garbled_dict(d):
    from fifa_nb.annotator import Annotation
    ann = refused_or(lambda: Annotation.from_dict(d))
    if ann is not None:
        repr(ann); ann.age; ann.plain_text
        again = Annotation.from_dict(json.loads(json.dumps(ann.to_dict())))
        assert again.text == ann.text and np.array_equal(again.artifact_mask, ann.artifact_mask)


@fuzz_settings(300)
@given(mutated([json.dumps(ANNOTATION).encode()]) | st.binary(max_size=100))
def test_annotation_from_damaged_file(tmp_path_factory, data):
    from fifa_nb.annotator import Annotation
    path = tmp_path_factory.mktemp('ann') / 'pair.json'; path.write_bytes(data)
    refused_or(lambda: Annotation.from_json(path))


SAMPLE = F.sample_row(str(ROOT / 'data_samples' / 'astronaut.jpg'))


@fuzz_settings(600)
@given(garbled(SAMPLE) | json_values)
@example({**SAMPLE, 'labels': 5}).via('labels not a dict')
@example({**SAMPLE, 'meta': '{not json'}).via('meta not JSON')
def test_sample_from_garbled_dict(d):
    from fifa_nb.tasks import Sample
    s = refused_or(lambda: Sample.from_dict(d))
    if s is not None: repr(s); s.to_dict()

# ----------------------------------------------------------------------------------------------------------------------
# AGE text


markup = st.lists(st.sampled_from(['<p>', '</p>', '[SEG]', ' ', '  ', '\n', '\xa0', '\x1c', 'the nose', 'left eye', 'x.', 'Fake', 'real',
                                   '[1, 2, 3, 4]', ',', '[', ']']), max_size=16).map(''.join)


@fuzz_settings(1500)
@given(markup | st.text(max_size=60))
def test_age_text_parsers(text):
    "age_phrases and plain_text agree with the regular expressions that define them; the other parsers never raise."
    from fifa_nb.annotator import age_phrases, plain_text, _AGE_PHRASE
    from fifa_nb.tasks import parse_box, parse_family, parse_verdict
    assert [p for p, _ in age_phrases(text)] == [m.group(1) for m in _AGE_PHRASE.finditer(text)]
    expected = re.sub(r'\s+', ' ', re.sub(r'\s*\[SEG\]', '', text).replace('<p>', '').replace('</p>', '')).strip()
    assert plain_text(text) == expected
    parse_verdict(text); parse_family(text)
    box = parse_box(text, (100, 200))
    assert box is None or all(np.isfinite(box))


@fuzz_settings(500)
@given(markup | st.text(max_size=60))
def test_parse_grounded(text):
    from fifa_nb.model import parse_grounded
    segments, warnings = parse_grounded(text)
    assert all(isinstance(w, str) for w in warnings)


def test_age_text_parsers_are_linear():
    "Hostile texts of a megabyte: the regex versions took seconds to minutes (quadratic); these must stay fast."
    from fifa_nb.annotator import age_phrases, plain_text
    from fifa_nb.tasks import parse_box, parse_family, parse_verdict
    from fifa_nb.corpora import parse_ddvqa
    start = time.perf_counter()
    for text in ['<p>' * 300_000, ' ' * 1_000_000 + 'x', '<p>x</p>' * 100_000, '[' + '1' * 500_000, 'the ' * 100_000]:
        age_phrases(text); plain_text(text); parse_box(text); parse_verdict(text); parse_family(text)
        parse_ddvqa({'0_000_001': {'0': {'question': text, 'answer': ['It looks fake.']}}})
    assert time.perf_counter() - start < 10


@fuzz_settings(200)
@given(st.lists(markup | st.text(max_size=30), min_size=1, max_size=3), st.lists(markup | st.text(max_size=30), min_size=1, max_size=3))
def test_text_metrics_on_any_text(hyps, refs):
    from fifa_nb.metrics import text_scores
    refs = (refs * len(hyps))[:len(hyps)]
    scores = refused_or(lambda: text_scores(hyps, [[r] for r in refs]))
    if scores is not None: assert all(np.isfinite(v) for v in scores.values() if isinstance(v, float))

# ----------------------------------------------------------------------------------------------------------------------
# corpora


@pytest.fixture(scope='module')
def fixtures(tmp_path_factory):
    from fifa_nb.corpus_fixtures import make_corpus_fixtures
    return make_corpus_fixtures(tmp_path_factory.mktemp('corpora') / 'fx')


@fuzz_settings(200)
@given(data=st.data())
def test_ddvqa_damaged_files(fixtures, data, tmp_path_factory):
    from fifa_nb.corpora import load_ddvqa
    seed = sorted(Path(fixtures['ddvqa']).glob('*_set/*/*.json'))[0]   # a question file: {key: {question id: {question, answer}}}
    record = json.loads(seed.read_text())
    content = data.draw(mutated([seed.read_bytes()]) | garbled(record).map(lambda d: json.dumps(d).encode()) | st.binary(max_size=50))
    path = tmp_path_factory.mktemp('ddvqa') / 'q.json'; path.write_bytes(content)
    refused_or(lambda: load_ddvqa(path))


@fuzz_settings(150)
@given(data=st.data())
def test_corpus_index_files(fixtures, data, tmp_path_factory):
    "DFFD pairs CSVs and FF++ split files, damaged or hostile (../, absolute paths, NUL bytes, links): a CorpusError at worst."
    from fifa_nb.corpora import load_dffd_pairs, ffpp_videos
    csv = Path(fixtures['dffd_pairs']).read_bytes()
    hostile = st.lists(st.sampled_from([b'fake,real,mask\n', b'../../etc/passwd', b'/etc/passwd', b'\x00', b',', b'\n', b'ffhq/train/00001.png',
                                        b'\xff\xfe', b'"', b'C:\\x.png', b'x' * 300]), max_size=8).map(b''.join)
    content = data.draw(mutated([csv, b'[["000", "003"]]']) | hostile)
    path = tmp_path_factory.mktemp('csv') / 'pairs.csv'; path.write_bytes(content)
    refused_or(lambda: load_dffd_pairs(fixtures['dffd'], pairs=path, limit=2))
    refused_or(lambda: ffpp_videos(fixtures['ffpp'], pairs=path))


@fuzz_settings(100)
@given(data=st.data())
def test_celebamask_damaged_files(fixtures, data, tmp_path_factory):
    import shutil
    from fifa_nb.corpora import celebamask_ids, celebamask_parsing
    root = tmp_path_factory.mktemp('celeba') / 'CelebAMask-HQ'
    shutil.copytree(fixtures['celebamask'], root)
    mapping, mask = root / 'CelebA-HQ-to-CelebA-mapping.txt', root / 'CelebAMask-HQ-mask-anno' / '1' / '02001_nose.png'
    mapping.write_bytes(data.draw(mutated([mapping.read_bytes(), '2²\t1\tx\n'.encode()]) | st.binary(max_size=40)))
    mask.write_bytes(data.draw(mutated([mask.read_bytes()] + F.crafted_headers()[:2])))
    refused_or(lambda: celebamask_ids(root, split='train'))
    refused_or(lambda: celebamask_parsing(root, 2001, size='masks'))


@fuzz_settings(80)
@given(data=st.data())
def test_read_video_frames_damaged(fixtures, data, tmp_path_factory):
    from fifa_nb.corpora import read_video_frames
    seeds = [p.read_bytes() for p in sorted(Path(fixtures['ffpp']).rglob('*.mp4'))[:1]]
    path = tmp_path_factory.mktemp('video') / 'v.mp4'; path.write_bytes(data.draw(mutated(seeds) | st.binary(max_size=100)))
    frames = refused_or(lambda: list(read_video_frames(path, max_frames=2)))
    if frames is not None: assert all(f.dtype == np.uint8 and f.ndim == 3 for _, f in frames)

# ----------------------------------------------------------------------------------------------------------------------
# checkpoint configs and datasets (09_model, 05a_dataset)


CONFIG = json.loads(F.config_seeds()[0])


@fuzz_settings(150)
@given(garbled(CONFIG) | json_values)
@example({**CONFIG, 'vision': []}).via('vision not a dict')
def test_fifa_config_from_dict(d):
    from fifa_nb.model import FiFaConfig
    config = refused_or(lambda: FiFaConfig.from_dict(d))
    if config is not None: config.image_size; json.dumps(config.to_dict())


@fuzz_settings(300)
@given(garbled(CONFIG).map(lambda d: json.dumps(d).encode()) | mutated([json.dumps(CONFIG).encode()]) | st.binary(max_size=40))
def test_checkpoint_config(tmp_path_factory, data):
    import fifa_nb.model as model
    folder = tmp_path_factory.mktemp('ckpt')
    (folder / 'model.safetensors').write_bytes(b''); (folder / 'config.json').write_bytes(data)
    schema = [model.CONFIG_SCHEMA] if hasattr(model, 'CONFIG_SCHEMA') else []
    d = refused_or(lambda: model.checkpoint_config(folder, model.CHECKPOINT_FORMAT, 'fifa_nb checkpoint', *schema))
    if d is not None:
        config = refused_or(lambda: model.FiFaConfig.from_dict(d))
        if config is not None: config.image_size


@pytest.fixture(scope='module')
def tiny_fifa11(tmp_path_factory):
    return F.make_tiny_fifa11(tmp_path_factory.mktemp('fifa11') / 'ds')


@fuzz_settings(40)
@given(st.sampled_from(F.DATASET_FILES[1:5]), st.binary(max_size=30))
@example('arrow/train/dataset_info.json', b'\xff\xfe').via('dataset_info.json not UTF-8')
def test_load_fifa11_damaged(tiny_fifa11, tmp_path_factory, which, content):
    import shutil
    from fifa_nb.dataset import load_fifa11
    from fifa_nb.tasks import Sample
    folder = tmp_path_factory.mktemp('damaged') / 'ds'
    shutil.copytree(tiny_fifa11, folder)
    (folder / which).write_bytes(content)
    splits = refused_or(lambda: load_fifa11(folder))
    if splits is not None:
        for name in splits: [refused_or(lambda: Sample.from_dict(r)) for r in splits[name]]

# ----------------------------------------------------------------------------------------------------------------------
# the command line and the demo


@pytest.fixture(scope='module')
def places(tmp_path_factory):
    "Files the argument lists refer to: a face, a file that is not an image, a folder, outputs."
    work = tmp_path_factory.mktemp('cli')
    (work / 'face.jpg').write_bytes(F.face_jpeg()); (work / 'bad.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    (work / 'dir').mkdir()
    return {'@face.jpg': str(work / 'face.jpg'), '@bad.png': str(work / 'bad.png'), '@dir': str(work / 'dir'),
            '@missing.png': str(work / 'missing.png'), '@out.png': str(work / 'out' / 'o.png'), '@out.json': str(work / 'out' / 'o.json'),
            '@outdir': str(work / 'outdir')}


def run_cli(argv, monkeypatch):
    "main(argv) -> (exit code, what it printed); the commands that would run for minutes are stubbed to fail the test."
    from fifa_nb import cli
    import fifa_nb.dataset, fifa_nb.train
    def never(*a, **k): raise AssertionError(f'would start a long command for real: {argv}')
    for mod, name in ((cli, '_cmd_demo'), (cli, '_cmd_build_data'), (fifa_nb.dataset, 'build_dataset'), (fifa_nb.train, 'train')):
        monkeypatch.setattr(mod, name, never)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, 'stderr', err); monkeypatch.setattr(sys, 'stdout', out)
    try: code = cli.main(argv)
    except SystemExit as e: code = e.code
    return code, err.getvalue() + out.getvalue()   # `fifa_nb` alone prints its help to stdout (exit code 2)


cli_tokens = st.sampled_from([t for t in F.ARGV_TOKENS if t not in ('demo', 'build-data', 'train', 'evaluate')])


@fuzz_settings(80)
@given(st.sampled_from(['landmarks', 'concepts', 'analyze', 'annotate']), st.lists(cli_tokens, max_size=6))
@example('concepts', ['x' * 300, '--out', '@out.png']).via('a file name of 300 characters')
def test_cli_bad_arguments(places, monkeypatch, command, tokens):
    "A bad argument list ends in exit code 1 or 2 with a message (argparse's usage error is fine), never a traceback."
    argv = [command] + [places.get(t, t) for t in tokens]
    code, err = run_cli(argv, monkeypatch)
    assert code in (0, 1, 2, None), (argv, code)
    if code in (1, 2): assert err.strip() and 'Traceback' not in err, (argv, err)


@fuzz_settings(100)
@given(st.lists(cli_tokens.filter(lambda t: len(t) < 200), max_size=6))
def test_cli_bad_arguments_short_names(places, monkeypatch, tokens):
    "The same with names the file system accepts (the bug above aside): exit code 0, 1 or 2, a message, no traceback."
    argv = [places.get(t, t) for t in tokens]
    code, err = run_cli(argv, monkeypatch)
    assert code in (0, 1, 2, None), (argv, code)
    if code in (1, 2): assert err.strip() and 'Traceback' not in err, (argv, err)


@fuzz_settings(400)
@given(markup | st.text(max_size=40))
def test_demo_read_box(text):
    from fifa_nb.demo import read_box
    box = refused_or(lambda: read_box(text))
    if box is not None: assert len(box) == 4 and all(np.isfinite(box))


@fuzz_settings(60)
@given(st.lists(path_parts, min_size=1, max_size=4).map(''.join))
@example('x' * 300).via('a file name of 300 characters')
def test_demo_read_picture_odd_paths(path):
    from fifa_nb.demo import read_picture
    with pytest.raises(FifaError): read_picture(path)


@fuzz_settings(40)
@given(data=st.data())
def test_demo_handlers_on_damaged_uploads(places, data, tmp_path_factory):
    "The Analyze and Annotate tabs on an uploaded file that is damaged, not an image, or a bomb (the shipped model answers)."
    from fifa_nb.demo import handle_analyze, handle_annotate, read_picture
    content = data.draw(mutated(F.demo_seeds()) | st.binary(max_size=200))
    path = tmp_path_factory.mktemp('upload') / ('picture.png' if content[:4] == b'\x89PNG' else 'picture.jpg')
    path.write_bytes(content)
    refused_or(lambda: read_picture(str(path)))
    refused_or(lambda: handle_analyze(str(path)))
    refused_or(lambda: handle_annotate(places['@face.jpg'], str(path)))

# ----------------------------------------------------------------------------------------------------------------------
# bounded work, no data loss, no stale answers (hardening, second round)


def _ctx(tmp_path_factory, **more):
    "The context scripts/fuzz.py's targets run with."
    scratch = tmp_path_factory.mktemp('scratch')
    return dict(scratch=str(scratch), FifaError=FifaError, refused=False, **more)


@pytest.fixture(scope='module')
def question_ctx(tmp_path_factory):
    from fifa_nb.model import FiFaMLLM
    return _ctx(tmp_path_factory, tiny=FiFaMLLM.from_preset('tiny', seed=0), face64=np.full((64, 64, 3), 128, np.uint8))


@fuzz_settings(40)
@given(st.sampled_from(F.question_seeds()).map(lambda b: b.decode()) | markup | st.text(max_size=300)
       | st.builds(lambda t, k: t * k, st.text(min_size=1, max_size=6), st.integers(1, 40_000)))
def test_any_question_is_answered_or_refused(question_ctx, text):
    "Any text as a question (up to 240 KB): answered, or refused before anything reads it (no 23-second hold of the worker)."
    F.run_question(text.encode('utf-8', 'surrogatepass'), question_ctx)


NUMBER_FIELDS = [('llm', 'hidden_size'), ('llm', 'num_attention_heads'), ('llm', 'num_key_value_heads'), ('llm', 'rope_theta'),
                 ('llm', 'rms_norm_eps'), ('llm', 'intermediate_size'), ('vision', 'num_attention_heads'), ('vision', 'patch_size'),
                 ('vision', 'layer_norm_eps'), ('seg', 'heads'), ('seg', 'dim'), (None, 'mask_size'), (None, 'max_new_tokens')]


@fuzz_settings(60)
@given(st.lists(st.tuples(st.sampled_from(NUMBER_FIELDS), st.sampled_from([0, 1, 2, 3, 7, -1, 0.0, 1e-300, 0.5, 1e6, 2 ** 31,
                                                                          float('nan'), float('inf'), 'gelu', 'evil', None])),
                min_size=1, max_size=3)
       | st.just([(('llm', 'hidden_act'), 'evil')]) | st.just([(('llm', 'rope_parameters'), {'rope_type': 'evil'})]))
def test_any_config_numbers_build_or_are_refused(edits):
    "A config whose numbers are changed: a model that builds and runs on the meta device, or one CheckpointError."
    d = json.loads(json.dumps(CONFIG))
    for (part, key), value in edits:
        (d[part] if part else d)[key] = value
    refused_or(lambda: F.run_config_build(json.dumps(d, allow_nan=True).encode(), {}))


def test_any_config_numbers_refusals_are_fifa_errors():
    with pytest.raises(FifaError): F.run_config_build(json.dumps({**CONFIG, 'llm': {**CONFIG['llm'], 'rope_theta': 0}}).encode(), {})


@fuzz_settings(80)
@given(st.sampled_from(F.build_folder_seeds()).map(json.loads).flatmap(garbled) | st.sampled_from(F.build_folder_seeds()).map(json.loads))
def test_build_data_never_deletes_what_it_did_not_write(tmp_path_factory, spec):
    "build-data's check of --out on planted folders (with and without --force): a refusal, or only a verified build cleared."
    refused_or(lambda: F.run_build_folder(json.dumps(spec).encode(), _ctx(tmp_path_factory)))


@pytest.fixture(scope='module')
def rerun_ctx(tmp_path_factory):
    return _ctx(tmp_path_factory, **F.make_pairs(tmp_path_factory.mktemp('pairs_src')))


@fuzz_settings(3)
@given(st.binary(min_size=1, max_size=6))
@example(bytes([0, 8, 1, 9])).via('a fake changed after it was annotated, then re-run')
def test_annotate_folder_reruns_never_return_stale_results(rerun_ctx, data):
    refused_or(lambda: F.run_folder_rerun(data, rerun_ctx))


def test_symlink_loops_are_one_line_messages(tmp_path, monkeypatch):
    "A loop of symbolic links wherever a path goes in: exit code 1 and one line, never a RuntimeError from pathlib."
    loop = tmp_path / 'loop'; os.symlink(loop, loop)
    pairs = tmp_path / 'pairs'; pairs.mkdir(); os.symlink(pairs / 'b_real.png', pairs / 'a_real.png'); os.symlink(pairs / 'a_real.png', pairs / 'b_real.png')
    (pairs / 'a_fake.png').write_bytes(F.face_jpeg())
    for argv in (['analyze', 'grace_hopper', '--checkpoint', str(loop)], ['evaluate', '--data', str(loop), '--checkpoint', 'small'],
                 ['annotate-folder', str(loop), '--out', str(tmp_path / 'o')], ['landmarks', str(loop)], ['annotate', str(loop), str(loop)],
                 ['calibrate', '--checkpoint', str(loop), '--data', str(loop)]):
        code, err = run_cli(argv, monkeypatch)
        assert code == 1 and err.strip() and 'Traceback' not in err and len(err.strip().splitlines()) == 1, (argv, err)
    code, err = run_cli(['annotate-folder', str(pairs), '--out', str(tmp_path / 'o2'), '--quiet'], monkeypatch)   # one pair's problem
    assert code == 0 and 'loop of symbolic links' in json.loads((tmp_path / 'o2' / 'summary.json').read_text())['errors']['a']


@pytest.fixture(scope='module')
def payload_ctx(tmp_path_factory):
    up = tmp_path_factory.mktemp('upload'); (up / 'face.jpg').write_bytes(F.face_jpeg())
    return _ctx(tmp_path_factory, places={'@upload': str(up)})


@fuzz_settings(150)
@given(st.sampled_from(F.payload_seeds()).map(json.loads).flatmap(lambda v: garbled(v) if isinstance(v, dict) else st.just(v))
       | mutated(F.payload_seeds()).map(lambda b: b.decode('utf-8', 'replace')))
def test_demo_image_payloads(payload_ctx, payload):
    "What a request may carry for a demo image (data: URLs, paths, web addresses, odd dicts): a picture or one ImageError."
    refused_or(lambda: F.run_demo_payload(json.dumps(payload).encode(), payload_ctx))


def test_expand_box_of_a_huge_box_is_cut_to_the_image():
    "Found by the fuzzer: a box validate_box accepts, grown by 1.3, passes MAX_COORD; cut to the image it is fine."
    from fifa_nb.masks import expand_box
    assert expand_box(validate_box([0, 0, 1, 869565218]), 1.3, (64, 64)) == (0.0, 0.0, 1.15, 64.0)
    assert expand_box((100, 100, 110, 110), 1.0, (64, 64)) is None      # outside the image: nothing left
