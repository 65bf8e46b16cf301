"""Fuzz every public entry point of fifa_nb that reads outside data, and count what happens.

Each target gets N inputs: some purely random, most mutations of valid seeds (bit flips, truncations, inserted and
deleted bytes, header integers set to extremes, splices of two seeds; for JSON also structure-aware edits: a value
replaced by one of another type, keys dropped or added, NaN and 400-digit numbers, deep nesting; for argument lists
whole tokens swapped). Every input must end in a result or a fifa_nb error (`FifaError`, or for the command line an
exit code of 1 or 2 with a message): anything else - another exception, a broken property (an RLE that does not
round-trip), a hang, a crash or a memory blow-up - is counted as a failure, saved with its traceback under
--failures, and makes the script exit with status 1.

Inputs run in a worker process with a memory cap (RLIMIT_AS: the worker's size at start plus --memory-mb) and a
time limit per input (--timeout); a worker that hangs is killed, one that dies is counted, and a fresh worker (forked
from the prepared parent) takes over. Nothing is downloaded; the long commands (demo, build-data, train) are stubbed.

    python scripts/fuzz.py                          # every target, 2,000 inputs each (about a minute on 2 cores)
    python scripts/fuzz.py --n 200 --only image_bytes rle_json
    python scripts/fuzz.py --n 10000 --out results/fuzz.md            # the long run: writes its table and command
    python scripts/fuzz.py --atheris --n 20000 --out results/fuzz.md  # coverage-guided (atheris/libFuzzer), where it fits
    python scripts/fuzz.py --list                   # the targets, what each one calls, and its share of N
    python scripts/fuzz.py --replay results/fuzz_failures/rle_json-0001.bin   # one saved input again, in-process

Expensive targets (the demo handlers, the command line, the dataset loader, videos) get a fraction of N (--list).
`--atheris` needs atheris: `pip install -e ".[fuzz]"` (prebuilt wheels for CPython 3.10-3.13 on Linux x86-64 only;
elsewhere it would compile from source with clang and libFuzzer, so the extra leaves it out); without it that mode
says so and stops. libFuzzer stops a target at its first failure. The bounded property-based suite that runs in CI
is tests/test_fuzz.py (`FIFA_NB_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py` for a longer run).
"""
import argparse, contextlib, io, json, math, os, re, resource, shutil, signal, struct, sys, tempfile, time, traceback, zlib
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

# ----------------------------------------------------------------------------------------------------------------------
# random values and mutations

INTERESTING_INTS = [0, 1, 2, 7, 8, 15, 16, 255, 256, 1000, 16384, 32767, 65500, 65535, 100_000, 2**31 - 1, 2**32 - 1]
TEXT_BITS = ['<p>', '</p>', '[SEG]', ' [SEG]', '<p>the left eye</p> [SEG]', 'the nose', 'left_eyebrow', ' ', '  ', '\n', '\t', '\xa0',
             '\u2028', 'fake', 'real', 'Fake.', 'This face is real.', 'a region swap', 'an identity swap', 'attribute editing',
             'no manipulation', '[', ']', ',', '0', '1000', '120, 340, 560, 700', '[1, 2, 3, 4]', '1e999', '9' * 40, '.', '!',
             'é', '\u0663', '²', '\ud800', '\x00', 'x', 'The', 'Also, ', "the person's", ' looks real', ' look fake']
KEY_BITS = ['size', 'counts', 'format', 'layout', 'points', 'box', 'image_size', 'n_faces', 'score', 'verdict', 'text', 'masks',
            'labels', 'meta', 'image', 'bytes', 'path', 'task', 'id', 'question', 'answer', 'vision', 'llm', 'seg', 'lora', 'preset',
            'question', 'is_fake', 'family', 'method', 'concept_masks', 'coverage', 'findings', 'concepts', 'x', '']


def random_text(rng, max_parts=12):
    parts = [TEXT_BITS[i] for i in rng.integers(0, len(TEXT_BITS), rng.integers(0, max_parts + 1))]
    if rng.random() < 0.1: parts.append(TEXT_BITS[rng.integers(len(TEXT_BITS))] * int(rng.integers(100, 5000)))  # long runs
    if rng.random() < 0.1: parts.append(''.join(chr(int(c)) for c in rng.integers(1, 0x3000, rng.integers(1, 20))))
    return ''.join(parts)


def random_json(rng, depth=0):
    "A random JSON value: every type, extreme numbers, markup strings, nested containers."
    r = rng.random()
    if depth > 3 or r < 0.1: return [None, True, False][rng.integers(3)]
    if r < 0.3:
        return [0, 1, -1, 2, 68, 256, 10**int(rng.integers(2, 400)), -2**63, 2**64, int(rng.integers(-1000, 1000))][rng.integers(10)]
    if r < 0.45: return [0.5, -0.0, 1e308, float('nan'), float('inf'), -float('inf'), 1e-320, float(rng.normal()) * 1000][rng.integers(8)]
    if r < 0.65: return random_text(rng, 6)
    if r < 0.8: return [random_json(rng, depth + 1) for _ in range(rng.integers(0, 6))]
    if r < 0.97: return {KEY_BITS[rng.integers(len(KEY_BITS))]: random_json(rng, depth + 1) for _ in range(rng.integers(0, 6))}
    return _deep(rng)


def _deep(rng):
    v = 0
    for _ in range(int(rng.integers(20, 200))): v = [v] if rng.random() < 0.5 else {'x': v}
    return v


def _paths(v, path=()):
    yield path
    if isinstance(v, dict):
        for k, x in v.items(): yield from _paths(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v): yield from _paths(x, path + (i,))


def mutate_json(rng, value):
    "Structure-aware edits of a JSON value (a deep copy is edited)."
    value = json.loads(json.dumps(value))
    for _ in range(rng.integers(1, 4)):
        paths = list(_paths(value))
        path = paths[rng.integers(len(paths))]
        if not path: value = random_json(rng) if rng.random() < 0.2 else value; continue
        parent = value
        for k in path[:-1]: parent = parent[k]
        key, old, op = path[-1], parent[path[-1]], rng.integers(0, 8)
        if op == 0: parent[key] = random_json(rng)
        elif op == 1: del parent[key]
        elif op == 2 and isinstance(parent, dict): parent[KEY_BITS[rng.integers(len(KEY_BITS))]] = random_json(rng)
        elif op == 3 and isinstance(old, bool) is False and isinstance(old, (int, float)):
            try: parent[key] = [lambda: old + 1, lambda: -old, lambda: old * 10**int(rng.integers(1, 300)), lambda: old / 3 + 0.5,
                                lambda: str(old), lambda: float('nan')][rng.integers(6)]()
            except OverflowError: parent[key] = str(old)
        elif op == 4 and isinstance(old, str): parent[key] = mutate_text(rng, old)
        elif op == 5 and isinstance(old, list) and old: parent[key] = old + old[:rng.integers(1, len(old) + 1)]
        elif op == 6: parent[key] = [old] if rng.random() < 0.5 else {'x': old}
        else: parent[key] = None
    return value


def mutate_text(rng, text):
    parts = re.split(r'(<p>|</p>|\[SEG\]|\s+)', text)
    for _ in range(rng.integers(1, 4)):
        i, op = rng.integers(0, len(parts) + 1), rng.integers(0, 4)
        if op == 0 and parts: del parts[min(i, len(parts) - 1)]
        elif op == 1: parts.insert(i, TEXT_BITS[rng.integers(len(TEXT_BITS))])
        elif op == 2 and parts: parts.insert(i, parts[rng.integers(len(parts))])
        else: parts.insert(i, random_text(rng, 3))
    return ''.join(parts)


def mutate_bytes(rng, data, others=()):
    "1-4 byte-level edits, biased to the first 64 bytes (where headers live)."
    data = bytearray(data)
    for _ in range(rng.integers(1, 5)):
        op = rng.integers(0, 10)
        if not data: op = 3
        pos = int(rng.integers(0, min(len(data), 64) if rng.random() < 0.5 else len(data))) if data else 0
        if op == 0: data[pos] ^= 1 << int(rng.integers(8))
        elif op == 1: data[pos] = [0, 1, 0x7f, 0x80, 0xff][rng.integers(5)]
        elif op == 2: data[pos] = int(rng.integers(256))
        elif op == 3: data[pos:pos] = rng.integers(0, 256, rng.integers(1, 17), dtype=np.uint8).tobytes()
        elif op == 4: del data[pos:pos + int(rng.integers(1, 33))]
        elif op == 5: del data[pos:]
        elif op == 6: data[pos:pos] = data[pos:pos + int(rng.integers(1, 65))]
        elif op == 7 and others:
            other = others[rng.integers(len(others))]
            data = data[:pos] + bytearray(other[int(rng.integers(0, len(other) + 1)):])
        else:
            value, fmt = INTERESTING_INTS[rng.integers(len(INTERESTING_INTS))], ['>H', '<H', '>I', '<I'][rng.integers(4)]
            packed = struct.pack(fmt, value % (1 << (8 * struct.calcsize(fmt))))
            data[pos:pos + len(packed)] = packed
    return bytes(data)


def json_value(data):
    "The JSON value in `data`, or (for bytes that are not JSON) a random value derived from them: every input is used."
    try: return json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return random_json(np.random.default_rng(zlib.crc32(data)))


def jdump(v): return json.dumps(v).encode()

# ----------------------------------------------------------------------------------------------------------------------
# seeds


def _chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def crafted_headers():
    "Tiny files whose headers declare huge images (decompression bombs), in several formats."
    png = lambda w, h: (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                        + _chunk(b'IDAT', zlib.compress(b'')) + _chunk(b'IEND', b''))
    gif = lambda w, h: (b'GIF89a' + struct.pack('<HHBBB', min(w, 65535), min(h, 65535), 0, 0, 0) + b','
                        + struct.pack('<HHHHB', 0, 0, min(w, 65535), min(h, 65535), 0)
                        + b'\x02\x02\x44\x01\x00;')
    def tiff(w, h):
        tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8), (278, 4, 1, h), (279, 4, 1, 1)]
        return b'II*\x00' + struct.pack('<IH', 8, len(tags)) + b''.join(struct.pack('<HHII', *t) for t in tags) + b'\0\0\0\0'
    bmp = lambda w, h: b'BM' + struct.pack('<IHHI', 54, 0, 0, 54) + struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0)
    return [f(w, h) for f in (png, gif, tiff, bmp) for w, h in ((8000, 8000), (100_000, 100_000), (6000, 6000))] + [b'P6 100000 100000 255\n']


def image_seeds():
    "Small valid files of every format and mode load_image reads, plus crafted bomb headers."
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    out = []
    def save(im, fmt, **kw):
        buf = io.BytesIO(); im.save(buf, fmt, **kw); out.append(buf.getvalue())
    for mode in ('RGB', 'RGBA', 'L', 'LA', 'P', '1'): save(rgb.convert(mode), 'PNG')
    wide = Image.fromarray(np.asarray(rgb.convert('L')).astype(np.uint16) * 257)   # 16 bit
    save(wide, 'PNG'); save(wide.convert('I'), 'TIFF')
    pal = rgb.convert('P'); pal.info['transparency'] = 0; save(pal, 'PNG'); save(pal, 'GIF')
    save(rgb, 'JPEG', quality=80); save(rgb.convert('L'), 'JPEG'); save(rgb.convert('CMYK'), 'JPEG'); save(rgb, 'JPEG', progressive=True)
    exif = Image.Exif(); exif[0x0112] = 6; save(rgb, 'JPEG', exif=exif.tobytes())
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    save(frames[0], 'GIF', save_all=True, append_images=frames[1:], duration=50)
    save(frames[0], 'PNG', save_all=True, append_images=frames[1:])  # APNG
    save(frames[0], 'TIFF', save_all=True, append_images=frames[1:])  # two pages
    save(rgb, 'TIFF', compression='tiff_deflate'); save(rgb, 'TIFF', compression='packbits')
    save(Image.fromarray(np.asarray(rgb.convert('L')).astype(np.float32) / 255), 'TIFF')
    save(rgb, 'WEBP', quality=70); save(rgb, 'WEBP', lossless=True)
    save(frames[0], 'WEBP', save_all=True, append_images=frames[1:], lossless=True)
    save(rgb, 'BMP'); save(rgb.convert('P'), 'BMP'); save(rgb, 'PPM'); save(rgb.convert('L'), 'PPM')
    face = Image.open(ROOT / 'data_samples' / 'astronaut.jpg').convert('RGB').resize((96, 96))
    save(face, 'JPEG', quality=85); save(face, 'PNG')
    return [o for o in out if o] + crafted_headers()


def rle_seeds():
    from fifa_nb.masks import rle_encode, _run_lengths
    rng, out = np.random.default_rng(1), []
    for shape in [(1, 1), (3, 3), (7, 5), (16, 12), (0, 4)]:
        for p in (0, 0.3, 1):
            m = rng.random(shape) < p
            out.append(jdump(rle_encode(m)))
            out.append(jdump({'size': list(shape), 'counts': _run_lengths(m)}))
    out.append(jdump({'size': [100_000, 100_000], 'counts': [10**10]}))
    return out


def box_seeds():
    return [jdump(v) for v in ([0, 0, 10, 10], [1.5, 2.5, 30.25, 40], [-5, -5, 300, 300], [0, 0, 10**400, 5], [3, 3, 1, 1])]


def sample_row(image_path='picture.png'):
    "A valid FiFa-11 row (as JSON: the image as a path)."
    from fifa_nb.masks import rle_encode
    mask = np.zeros((16, 16), bool); mask[4:9, 3:11] = True
    return dict(id='train-00001/age', task='age', split='train', image={'bytes': None, 'path': image_path},
                question='Is this face real or fake? Explain and segment.', answer='This face has been manipulated. <p>The nose</p> [SEG] looks smoothed.',
                masks=[rle_encode(mask)], region=None, box=None, labels=dict(is_fake=True, family='attribute', method='smooth'),
                concepts=['nose'], meta=json.dumps({'item': 'train-00001', 'identity': 'a'}))


def sample_seeds():
    from fifa_nb.masks import rle_encode
    region = np.zeros((16, 16), bool); region[2:8, 2:8] = True
    return [jdump(sample_row()), jdump({**sample_row(), 'task': 'region_det', 'region': rle_encode(region), 'masks': [],
                                        'question': 'Was <region> manipulated?', 'answer': 'No.'}),
            jdump({**sample_row(), 'task': 'box_det', 'box': [1, 2, 8, 9], 'masks': [], 'question': 'Is <region> fake?', 'answer': 'No.'})]


def annotation_record():
    "A valid annotation record, made by hand (no annotator run)."
    from fifa_nb.annotator import Annotation
    art = np.zeros((24, 24), bool); art[5:12, 6:14] = True
    nose = art.copy(); nose[:, :10] = False
    ann = Annotation(verdict='fake', artifact_mask=art, concepts=['nose', 'left_eye'], concept_masks={'nose': nose, 'left_eye': art & ~nose},
                     coverage={'nose': (0.5, 0.4)}, cues={'nose': {'delta_e': 7.5}}, findings={'nose': [('smoothed', 1.2)]},
                     text='This face has been manipulated. <p>The nose</p> [SEG] looks smoothed. Also, <p>the left eye</p> [SEG] looks darker.',
                     rule='hysteresis', threshold=7.0, family='attribute', method='smooth')
    return ann.to_dict()


def landmark_seeds():
    return [(ROOT / 'data_samples' / f).read_bytes() for f in ('astronaut.ibug68.json', 'grace_hopper.mediapipe478.json')]


def config_seeds():
    from fifa_nb.model import preset_config, CHECKPOINT_FORMAT
    return [jdump(dict(format=CHECKPOINT_FORMAT, **preset_config(p).to_dict())) for p in ('tiny', 'small')]   # as save_pretrained writes it


def text_seeds():
    return [t.encode() for t in ['This face has been manipulated. <p>The left eye</p> [SEG] looks enlarged. Also, <p>the nose</p> [SEG] looks smoothed.',
                                 'The face is real.', 'The box is [120, 340, 560, 700].', 'This face shows a region swap.',
                                 '<p>the mouth [SEG]</p> <p>x</p>', "Does the person's left eye look real?", '12, 40, 200, 230']]


def argv_seeds():
    return [b'\x00'.join(t.encode() for t in argv) for argv in [
        ['landmarks', '@face.jpg'], ['landmarks', '@bad.png', '--out', '@out.json'], ['concepts', '@bad.png', '--out', '@out.png'],
        ['analyze', '@bad.png', '--box', '1,2,3,4'], ['analyze', 'grace_hopper', '--region', 'nose', '--task', 'region_exp', '--json'],
        ['annotate', '@bad.png', '@face.jpg', '--json'], ['annotate', '@face.jpg', '@face.jpg', '--out', '@out.txt'],
        ['train', '--data', '@dir', '--out', '@outdir'], ['evaluate', '--data', '@dir', '--checkpoint', '@dir'],
        ['build-data', '--out', '@outdir', '--n', '12'], ['demo', '--port', '0'], ['--version'], ['analyze'], [],
        ['landmarks', '@face.jpg', '--backend', 'opencv', '--out', '@out.json', '--force'], ['analyze', 'x' * 300],
        ['concepts', 'x' * 300, '--out', '@out.png'], ['annotate', 'x' * 300, '@face.jpg'],
        ['analyze', 'grace_hopper', '--threshold', 'nan'], ['analyze', 'grace_hopper', '--threshold', '-5'],
        ['train', '--data', '@dir', '--out', '@outdir', '--lr', 'inf', '--max-minutes', '-1'], ['demo', '--port', '99999'],
        ['build-data', '--out', '@outdir', '--n', '1e400', '--size', 'nan'], ['evaluate', '--data', '@dir', '--batch-size', '0']]]


ARGV_TOKENS = ['landmarks', 'concepts', 'analyze', 'annotate', 'train', 'evaluate', 'build-data', 'demo', '--out', '--force', '--json',
               '--box', '--region', '--task', '--question', '--backend', '--threshold', '--checkpoint', '--data', '--n', '--seed', '--steps',
               '--help', '-h', '--version', '--rule', '@face.jpg', '@bad.png', '@dir', '@missing.png', '@out.png', '@out.json', '@outdir',
               'grace_hopper', 'astronaut/swap_mouth', 'nose', 'left_eyebrow', 'age', 'box_pred', 'region_seg', 'hysteresis', 'opencv',
               '1,2,3,4', '-5,0,1e999,nan', 'nan', '-1', '0', '1e309', '', ' ', 'x' * 300, '\udcff', '--', '-', '=', '--out=',
               '--lr', '--max-minutes', '--port', '--batch-size', '--size', '--num-proc', 'inf', '-inf', '1e400', '0.5', '1', '2.5', 'True']


def face_jpeg():
    "The grace_hopper sample at 400 px: the demo finds its face; the same bytes are the real picture of the annotate calls."
    from PIL import Image
    face = Image.open(ROOT / 'data_samples' / 'grace_hopper.jpg').convert('RGB')
    buf = io.BytesIO(); face.resize((400, round(400 * face.height / face.width))).save(buf, 'JPEG', quality=85)
    return buf.getvalue()


def demo_seeds():
    return [face_jpeg()] * 4 + image_seeds()[:6] + crafted_headers()[:3]


def video_seeds(fx):
    return [p.read_bytes() for p in sorted(Path(fx['ffpp']).rglob('*.mp4'))[:2]] + [p.read_bytes() for p in sorted(Path(fx['ffpp']).rglob('*.avi'))[:1]]

# ----------------------------------------------------------------------------------------------------------------------
# targets


@dataclass
class Target:
    name: str
    calls: str                      # what it calls, for --list and the report
    seeds: object                   # ctx -> list of bytes
    run: object                     # (data, ctx) -> None (raise to fail)
    mutate: str = 'bytes'           # 'bytes', 'json', 'text', 'argv' or 'folder'
    cost: int = 1                   # inputs per run: N // cost
    atheris: bool = False           # does coverage-guided fuzzing fit it


def _scratch(ctx, name, data):
    path = Path(ctx['scratch']) / name
    if path.is_dir(): shutil.rmtree(path)
    path.write_bytes(data)
    return path


def run_image_bytes(data, ctx):
    from fifa_nb.core import load_image
    image = load_image(data, min_side=1)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.flags.c_contiguous, image.shape


DTYPES = ['?', 'u1', 'u2', 'u4', 'u8', 'i1', 'i2', 'i4', 'i8', 'f2', 'f4', 'f8', '>f8', 'c8', 'U1', 'S2', 'V2', 'M8[s]', 'm8[s]', 'O',
          '>u2', '<i2']
PIL_MODES = ['1', 'L', 'P', 'RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV', 'I', 'F', 'LA', 'PA', 'RGBX', 'RGBa', 'La', 'I;16', 'I;16L',
             'I;16B', 'I;16N']


def array_from_bytes(data):
    "An array (or PIL image) of an odd dtype/shape/mode, read from `data`."
    b = data + b'\0' * 8
    if b[0] >= 0xe0:   # a PIL image of some mode
        from PIL import Image
        mode, w, h = PIL_MODES[b[1] % len(PIL_MODES)], b[2] % 40, b[3] % 40
        try: return Image.frombytes(mode, (w, h), (data[4:] * (w * h * 8 // max(len(data[4:]), 1) + 1))[:w * h * 8])
        except Exception: return Image.new('L', (w, h))
    dtype, ndim = np.dtype(DTYPES[b[0] % len(DTYPES)]), b[1] % 5
    shape = tuple(int(x) % 40 for x in b[2:2 + ndim])
    if ndim >= 3 and b[6] % 2: shape = shape[:2] + (1 + b[7] % 5,) + shape[3:]
    n = int(np.prod(shape))
    if dtype.kind == 'O': return np.array([[None, 1, 'x', 2.5][i % 4] for i in range(n)], dtype=object).reshape(shape)
    raw = data[8:] or b'\x01'
    raw = (raw * (n * dtype.itemsize // len(raw) + 1))[:n * dtype.itemsize]
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


PATH_BITS = ['', '.', '..', '/', '~', '~no_such_user_here', 'x' * 300, 'a' * 5000, '\x00', '\udcff', ' ', '.png', '.jpg', 'face',
             '@dir', '@face.jpg', '@bad.png', '@loop', '@fifo', '/dev/null', '/proc/self/status', '/etc', 'http://example.com/a.png',
             'https://x', 'file:///etc/passwd', '%s', '{}', '\\\\server\\share', 'C:\\a.png']


def _odd_path(data, ctx):
    "The text in `data` as a path, with @names standing for prepared files (a face, a folder, a FIFO, a symlink loop, ...)."
    path = data.decode('utf-8', errors='surrogateescape')
    for k, v in ctx['places'].items(): path = path.replace(k, v)
    return path


PATH_SEEDS = [b'@face.jpg', b'@dir', b'@bad.png', b'~no_such_user_here/x.png', b'a' * 5000, b'a\x00b.png', b'@loop', b'@fifo', b'/dev/null']


def run_image_path(data, ctx):
    from fifa_nb.core import load_image, read_json
    path = _odd_path(data, ctx)
    soft(ctx, lambda: load_image(path, min_side=1), lambda: load_image(Path(path)) if '\x00' not in path else None, lambda: read_json(path))


def run_demo_path(data, ctx):
    from fifa_nb.demo import read_picture
    path = _odd_path(data, ctx)
    soft(ctx, lambda: read_picture(path))


def run_image_array(data, ctx):
    from fifa_nb.core import load_image, image_id
    from fifa_nb.masks import as_mask
    a = array_from_bytes(data)
    soft(ctx, lambda: load_image(a, min_side=1), lambda: image_id(a), lambda: as_mask(a))


def run_rle(data, ctx):
    from fifa_nb.masks import rle_decode, rle_encode, as_mask
    value = json_value(data)
    mask = rle_decode(value)
    assert mask.dtype == bool and mask.ndim == 2
    back = rle_decode(rle_encode(mask))   # the property: encoding what was decoded gives the same mask back
    assert back.shape == mask.shape and np.array_equal(back, mask), 'RLE round trip changed the mask'
    assert np.array_equal(as_mask(value), mask)


def run_box(data, ctx):
    from fifa_nb.masks import validate_box, box_area, expand_box, round_box, clip_box
    value = json_value(data)
    box = validate_box(value)
    assert len(box) == 4 and box[0] < box[2] and box[1] < box[3]
    box_area(box); round_box(box); clip_box(box, (64, 64)); expand_box(box, 1.5, (64, 64))
    soft(ctx, lambda: validate_box(value, (64, 64)))


def run_landmarks(data, ctx):
    from fifa_nb.landmarks import Landmarks
    lm = Landmarks.from_json(_scratch(ctx, 'landmarks.json', data))
    repr(lm); lm.to_dict(); lm.scaled(0.5)
    if lm.image_size is not None: lm.flipped()


def run_annotation(data, ctx):
    from fifa_nb.annotator import Annotation
    ann = Annotation.from_json(_scratch(ctx, 'annotation.json', data))
    repr(ann); ann.age; ann.plain_text; ann.is_fake
    again = Annotation.from_dict(json.loads(json.dumps(ann.to_dict())))
    assert np.array_equal(again.artifact_mask, ann.artifact_mask) and again.text == ann.text


def run_sample(data, ctx):
    from fifa_nb.tasks import Sample
    s = Sample.from_dict(json_value(data))
    repr(s); s.to_dict()
    soft(ctx, s.check)


def run_text(data, ctx):
    from fifa_nb.annotator import age_phrases, plain_text, _AGE_PHRASE
    from fifa_nb.tasks import parse_box, parse_verdict, parse_family
    from fifa_nb.model import parse_grounded
    from fifa_nb.concepts import FICT
    text = data.decode('utf-8', errors='replace')
    phrases = age_phrases(text)
    if len(text) < 3000:   # the property: the same phrases as the regex that defines them
        assert [p for p, _ in phrases] == [m.group(1) for m in _AGE_PHRASE.finditer(text)], 'age_phrases disagrees with its regex'
    plain = plain_text(text)
    if len(text) < 3000:   # and plain_text the same as its regex definition (removing markup may join '<<p>p>' into '<p>': as before)
        assert plain == re.sub(r'\s+', ' ', re.sub(r'\s*\[SEG\]', '', text).replace('<p>', '').replace('</p>', '')).strip()
    parse_grounded(text); parse_verdict(text); parse_family(text); FICT.lookup(text)
    box = parse_box(text, (256, 320))
    assert box is None or all(math.isfinite(v) for v in box)


def run_demo_text(data, ctx):
    from fifa_nb.demo import read_box, concept_name, highlight_segments
    text = data.decode('utf-8', errors='replace')
    soft(ctx, lambda: read_box(text), lambda: concept_name(text), lambda: highlight_segments(text, [text[:5], None]))


def run_config(data, ctx):
    from fifa_nb.model import FiFaConfig
    config = FiFaConfig.from_dict(json_value(data))
    config.image_size; json.dumps(config.to_dict())   # cheap uses only: no model is built


def run_checkpoint_config(data, ctx):
    from fifa_nb.model import checkpoint_config, CHECKPOINT_FORMAT, FiFaConfig
    folder = Path(ctx['scratch']) / 'checkpoint'
    folder.mkdir(exist_ok=True); (folder / 'model.safetensors').write_bytes(b'')
    (folder / 'config.json').write_bytes(data)
    import fifa_nb.model as model
    d = checkpoint_config(folder, CHECKPOINT_FORMAT, 'fifa_nb checkpoint', *([model.CONFIG_SCHEMA] if hasattr(model, 'CONFIG_SCHEMA') else []))
    config = FiFaConfig.from_dict(d)   # what from_pretrained does before it builds the model
    config.image_size; json.dumps(config.to_dict())


DATASET_FILES = ['fifa11.json', 'arrow/dataset_dict.json', 'arrow/train/state.json', 'arrow/train/dataset_info.json',
                 'arrow/train/data-00000-of-00001.arrow', 'arrow/val/state.json', 'arrow/val/data-00000-of-00001.arrow']


def run_dataset(data, ctx):
    "data[0] picks a file of a tiny FiFa-11 build (or a damage: delete it, make it a folder), data[1:] is its new content."
    from fifa_nb.dataset import load_fifa11
    from fifa_nb.tasks import Sample
    folder = Path(ctx['scratch']) / 'fifa11'
    if folder.exists(): shutil.rmtree(folder)
    shutil.copytree(ctx['dataset'], folder)
    op, which = (data[:1] or b'\0')[0] >> 5, DATASET_FILES[(data[:1] or b'\0')[0] % len(DATASET_FILES)]
    path = folder / which
    if op == 7: path.unlink(missing_ok=True)
    elif op == 6: path.unlink(missing_ok=True); path.mkdir()
    else: path.write_bytes(data[1:])
    splits = load_fifa11(folder)
    for name in splits:
        for row in splits[name].select(range(min(3, len(splits[name])))): Sample.from_dict(row)


def run_ddvqa(data, ctx):
    from fifa_nb.corpora import load_ddvqa
    items = load_ddvqa(_scratch(ctx, 'ddvqa.json', data))
    for item in items[:5]: repr(item)


def run_dffd_pairs(data, ctx):
    from fifa_nb.corpora import load_dffd_pairs, ffpp_videos
    csv_path = _scratch(ctx, 'pairs.csv', data)
    soft(ctx, lambda: load_dffd_pairs(ctx['fixtures']['dffd'], pairs=csv_path, limit=2),
         lambda: ffpp_videos(ctx['fixtures']['ffpp'], pairs=csv_path))   # the same bytes as an FF++ split file


def run_celebamask(data, ctx):
    "data[0] even: the bytes are the mapping file; odd: they replace one part mask (a PNG) of image 2001."
    from fifa_nb.corpora import celebamask_ids, celebamask_parsing
    root = Path(ctx['scratch']) / 'CelebAMask-HQ'
    if not root.exists(): shutil.copytree(ctx['fixtures']['celebamask'], root)
    mapping, mask = root / 'CelebA-HQ-to-CelebA-mapping.txt', root / 'CelebAMask-HQ-mask-anno' / '1' / '02001_nose.png'
    original = Path(ctx['fixtures']['celebamask'])
    shutil.copyfile(original / mapping.relative_to(root), mapping); shutil.copyfile(original / mask.relative_to(root), mask)
    if (data[:1] or b'\0')[0] % 2 == 0: mapping.write_bytes(data[1:]); celebamask_ids(root, split='train')
    else: mask.write_bytes(data[1:]); celebamask_parsing(root, 2001, size='masks')


def run_video(data, ctx):
    from fifa_nb.corpora import read_video_frames
    suffix = '.avi' if (data[:4] == b'RIFF') else '.mp4'
    for _, frame in read_video_frames(_scratch(ctx, 'video' + suffix, data), max_frames=3):
        assert frame.dtype == np.uint8 and frame.ndim == 3


def argv_from_bytes(data, ctx):
    tokens = data.decode('utf-8', errors='surrogateescape').split('\x00') if data else []
    places = ctx['places']
    return [places.get(t, t) for t in tokens]


def run_cli(data, ctx):
    "fifa_nb.cli.main(argv): 0, or 1/2 with a message on stderr; the long commands are stubbed (they must never start here)."
    from fifa_nb import cli
    for name in ('out.png', 'out.json', 'out.txt'): (Path(ctx['scratch']) / name).unlink(missing_ok=True)
    shutil.rmtree(Path(ctx['scratch']) / 'outdir', ignore_errors=True)
    argv = argv_from_bytes(data, ctx)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = cli.main(argv)
    except SystemExit as e: code = e.code
    except ctx['Stub']: return
    if code in (1, 2): assert err.getvalue().strip() or out.getvalue().strip(), f'exit code {code} without a message'
    elif code not in (0, None): raise AssertionError(f'exit code {code!r}')
    if code in (1, 2): raise ctx['CleanExit'](f'exit {code}: {err.getvalue().strip()[-200:]}')


def run_demo(data, ctx):
    "The demo's handlers on an uploaded file: read_picture, handle_analyze (the shipped model), handle_annotate."
    from fifa_nb.demo import read_picture, handle_analyze, handle_annotate
    path = _scratch(ctx, 'upload' + ('.png' if data[:4] == b'\x89PNG' else '.jpg'), data)
    soft(ctx, lambda: read_picture(path), lambda: handle_analyze(str(path)), lambda: handle_annotate(ctx['places']['@face.jpg'], str(path)))


def payload_seeds():
    "What an image input of the demo may receive: data: URLs (a face, a bomb header, junk), paths, web addresses, dicts."
    import base64
    face, bomb = face_jpeg(), crafted_headers()[0]
    url = lambda b, kind='image/png': f'data:{kind};base64,{base64.b64encode(b).decode()}'
    return [jdump(v) for v in [url(face, 'image/jpeg'), url(bomb), {'url': url(bomb), 'path': None, 'meta': {'_type': 'gradio.FileData'}},
            {'path': '/etc/hostname'}, {'path': '@upload/face.jpg'}, {'path': '@upload/../../etc/passwd'}, 'http://example.com/a.png',
            'data:image/png;base64,', 'data:,x', 'data:image/png;base64,' + 'A' * 50, 'iVBORw0KGgo=', {'url': 'file:///etc/passwd'}, None]]


def run_demo_payload(data, ctx):
    "fifa_nb.demo.picture_from_payload then read_picture, as a guarded image input does: a picture, or an ImageError, quickly."
    from fifa_nb.demo import picture_from_payload, read_picture
    v = json_value(data)
    up = ctx['places']['@upload']
    fix = lambda x: x.replace('@upload', up) if isinstance(x, str) else x
    v = {k: fix(x) for k, x in v.items()} if isinstance(v, dict) else fix(v)
    got = picture_from_payload(v, [up], max_bytes=2 ** 20)
    if got is not None: read_picture(got)


def question_seeds():
    return text_seeds() + [b'Why is it fake? ' * 8500, b'a' * 2000, b'a' * 2001, b'is the nose fake ' * 117, b'ab ' * 666,
                           '\u2028?'.encode() * 900, b'<region> ' * 200]


def run_question(data, ctx):
    "Any text as a question: checked before anything reads it (the task hints, the tokenizer), answered or refused quickly."
    from fifa_nb.model import check_question, guess_task, query_sample
    text = data.decode('utf-8', errors='replace')
    soft(ctx, lambda: check_question(text), lambda: guess_task(text), lambda: query_sample(ctx['face64'], text),
         lambda: ctx['tiny'].analyze(ctx['face64'], question=text, max_new_tokens=2))


def run_config_build(data, ctx):
    "A config.json as from_pretrained reads it: the schema, the architecture checks, then the model built and run on 'meta'."
    from fifa_nb.model import FiFaConfig, check_buildable
    check_buildable(FiFaConfig.from_dict(json_value(data)))


def build_folder_seeds():
    m = dict(format='fifa_nb.fifa11/2', complete=True, config={}, splits={}, files={}, digests={})
    return [jdump(d) for d in [
        dict(overwrite=True, files={'fifa11.json': json.dumps({'not': 'a manifest'}), '_work/thesis.tex': 'years', 'photos/p1.txt': 'mine'}),
        dict(overwrite=True, files={'fifa11.json': json.dumps(m), 'arrow/train/data.arrow': 'x', 'parquet/train.parquet': 'x'}),
        dict(overwrite=True, files={'fifa11.json': json.dumps(m), 'notes.txt': 'mine'}),
        dict(overwrite=False, files={'_work/plan.json': '{"config": {}}', '_work/identities/a.npz': 'x'}),
        dict(overwrite=True, files={'_work/.plan.json.x.tmp': '{', '_work/shards/.tmp-00000/x': 'x'}),
        dict(overwrite=True, files={'fifa11.json': json.dumps(m)}, links={'_work': '/tmp'}),
        dict(overwrite=True, files={'fifa11.json': json.dumps(m), 'arrow': None}, links={'parquet': '..'})]]


def _entries(folder):
    "Every path under `folder` (links not followed), relative."
    out = set()
    for dirpath, dirs, files in os.walk(folder):
        for n in dirs + files: out.add(os.path.relpath(os.path.join(dirpath, n), folder))
    return out


def run_build_folder(data, ctx):
    """build-data's output check on any folder: it may refuse, or clear a folder that holds only a verified build; it must
    never delete a file a build does not write (another name at the top or in _work, anything behind a link)."""
    from fifa_nb.dataset import _prepare, _config, BUILD_ENTRIES, WORK_ENTRIES
    spec = json_value(data)
    if not isinstance(spec, dict): spec = {'files': spec}
    folder = Path(ctx['scratch']) / 'build'
    if folder.exists() or folder.is_symlink(): shutil.rmtree(folder) if not folder.is_symlink() else folder.unlink()
    folder.mkdir()
    items = spec.get('files') if isinstance(spec.get('files'), dict) else {}
    links = spec.get('links') if isinstance(spec.get('links'), dict) else {}
    for rel, content in list(items.items())[:20]:
        parts = [p for p in str(rel).replace('\\', '/').split('/') if p not in ('', '.', '..') and '\x00' not in p][:4]
        if not parts: continue
        path = folder.joinpath(*parts)
        with contextlib.suppress(OSError, ValueError):
            if content is None: path.mkdir(parents=True, exist_ok=True)
            else: path.parent.mkdir(parents=True, exist_ok=True); path.write_text(str(content)[:200], errors='replace')
    for rel, target in list(links.items())[:4]:
        parts = [p for p in str(rel).split('/') if p not in ('', '.', '..') and '\x00' not in p][:2]
        with contextlib.suppress(OSError, ValueError):
            if parts: folder.joinpath(*parts).parent.mkdir(parents=True, exist_ok=True); os.symlink(str(target), folder.joinpath(*parts))
    before = _entries(folder)
    foreign = any(os.path.islink(folder / e) for e in before) or any(
        (e.split(os.sep)[0] not in BUILD_ENTRIES and not (e.startswith('.') and e.endswith('.tmp') and os.sep not in e))
        or (e.startswith('_work' + os.sep) and e.count(os.sep) == 1 and e.split(os.sep)[1] not in WORK_ENTRIES
            and not (e.split(os.sep)[1].startswith('.') and e.endswith('.tmp')))
        for e in before)
    try: _prepare(folder, _config(12, 0, 64, 4), bool(spec.get('overwrite')))
    finally:
        gone = before - _entries(folder)
        assert not (gone and foreign), f'deleted {sorted(gone)[:5]} from a folder holding files a build does not write'


def run_folder_rerun(data, ctx):
    """annotate-folder run again on a finished job after the pictures, the annotations and the summary were changed in
    any order: every annotation it reports was made from the pictures as they are now (their sha256), or the job refuses."""
    from fifa_nb.batch import annotate_folder
    from fifa_nb.core import file_sha256
    scratch = Path(ctx['scratch'])
    pairs, out, done = scratch / 'pairs', scratch / 'annotations', scratch / 'finished_job'
    for d in (pairs, out): shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(ctx['pairs'], pairs, ignore=shutil.ignore_patterns('other_*'))
    if not done.exists():   # the finished job every input starts from (made once per worker)
        annotate_folder(pairs, out, progress=False); shutil.copytree(out, done); shutil.rmtree(out)
    shutil.copytree(done, out)
    for i, b in enumerate(data[:6]):
        name = ctx['pair_names'][b % 2]
        op = (b >> 1) % 8
        if op in (0, 1) or (op == 3 and b < 128): shutil.copyfile(ctx['fakes'][(b >> 4) % len(ctx['fakes'])], pairs / f'{name}_fake.png')
        elif op == 2: (out / f'{name}.json').unlink(missing_ok=True)
        elif op == 3: (out / f'{name}.json').write_bytes(data[i:i + 40])   # not an annotation any more: the job must refuse
        elif op == 4 and b >= 128: (out / 'summary.json').write_bytes(data[i:i + 40])   # a damaged summary: refused too
        elif op in (4, 5, 6):
            with contextlib.suppress(ctx['FifaError']): annotate_folder(pairs, out, progress=False)
        else: shutil.copyfile(Path(ctx['pairs']) / f'{name}_fake.png', pairs / f'{name}_fake.png')
    summary = annotate_folder(pairs, out, progress=False, force=bool(data[-1:] == b'F'))
    for name, a in summary['annotations'].items():
        for side in ('real', 'fake'):
            assert a['inputs'][side]['sha256'] == file_sha256(pairs / a[side]), f'{name}: a stale annotation of {a[side]} was returned'


TARGETS = {t.name: t for t in [
    Target('image_bytes', 'fifa_nb.core.load_image(bytes) on every format (PNG/APNG, JPEG, GIF, TIFF, WebP, BMP, PPM)',
           lambda ctx: image_seeds(), run_image_bytes, atheris=True),
    Target('image_path', 'fifa_nb.core.load_image and read_json on odd paths: NUL bytes, 5000 characters, ~user, folders, '
           'devices, a FIFO, a symlink loop, web addresses', lambda ctx: PATH_SEEDS, run_image_path, 'path', atheris=True),
    Target('image_array', 'load_image, image_id, as_mask on arrays of odd dtypes/shapes and PIL images of every mode',
           lambda ctx: [bytes([i, j]) + bytes(range(60)) for i in range(0, 256, 23) for j in (2, 3)], run_image_array, atheris=True),
    Target('rle_json', 'fifa_nb.masks.rle_decode, as_mask, and the round trip rle_decode(rle_encode(m)) == m',
           lambda ctx: rle_seeds(), run_rle, 'json', atheris=True),
    Target('box_json', 'fifa_nb.masks.validate_box (+ box_area, round_box, clip_box, expand_box)', lambda ctx: box_seeds(), run_box, 'json', atheris=True),
    Target('landmarks_json', 'fifa_nb.landmarks.Landmarks.from_json (a file)', lambda ctx: landmark_seeds(), run_landmarks, 'json', atheris=True),
    Target('annotation_json', 'fifa_nb.annotator.Annotation.from_json (a file), .age, .plain_text, to_dict round trip',
           lambda ctx: [jdump(annotation_record())], run_annotation, 'json', atheris=True),
    Target('sample_json', 'fifa_nb.tasks.Sample.from_dict, .check, .to_dict', lambda ctx: sample_seeds(), run_sample, 'json', atheris=True),
    Target('age_text', 'annotator.age_phrases/plain_text, tasks.parse_box/parse_verdict/parse_family, model.parse_grounded, FICT.lookup',
           lambda ctx: text_seeds(), run_text, 'text', atheris=True),
    Target('demo_text', 'fifa_nb.demo.read_box, concept_name, highlight_segments', lambda ctx: text_seeds(), run_demo_text, 'text', atheris=True),
    Target('config_json', 'fifa_nb.model.FiFaConfig.from_dict (+ image_size, to_dict)', lambda ctx: config_seeds(), run_config, 'json', atheris=True),
    Target('checkpoint_config', 'fifa_nb.model.checkpoint_config (with its schema, as from_pretrained calls it) and FiFaConfig.from_dict '
           'on a folder with a fuzzed config.json',
           lambda ctx: config_seeds(), run_checkpoint_config, 'json', atheris=True),
    Target('dataset_folder', 'fifa_nb.dataset.load_fifa11 on a tiny FiFa-11 build with one file damaged, then Sample.from_dict on rows',
           lambda ctx: [bytes([i]) + (Path(ctx['dataset']) / DATASET_FILES[i % len(DATASET_FILES)]).read_bytes() for i in range(len(DATASET_FILES))],
           run_dataset, 'bytes', cost=4),
    Target('ddvqa_json', 'fifa_nb.corpora.load_ddvqa (a DD-VQA question file)',
           lambda ctx: [p.read_bytes() for p in sorted(Path(ctx['fixtures']['ddvqa']).rglob('*.json'))[:3]], run_ddvqa, 'json'),
    Target('corpus_csv', 'fifa_nb.corpora.load_dffd_pairs(pairs=CSV) and ffpp_videos(pairs=file) on the corpus fixtures',
           lambda ctx: [Path(ctx['fixtures']['dffd_pairs']).read_bytes(), b'[["000", "003"], ["001", "002"]]',
                        b'fake,real,mask\n../../etc/passwd,/etc/passwd,\x00x\n'], run_dffd_pairs, cost=2),
    Target('celebamask_files', 'fifa_nb.corpora.celebamask_ids (mapping file) and celebamask_parsing (a part mask file)',
           lambda ctx: [b'\0' + (Path(ctx['fixtures']['celebamask']) / 'CelebA-HQ-to-CelebA-mapping.txt').read_bytes(),
                        b'\1' + (Path(ctx['fixtures']['celebamask']) / 'CelebAMask-HQ-mask-anno/1/02001_nose.png').read_bytes()]
           + [b'\1' + s for s in crafted_headers()[:2]], run_celebamask, cost=2),
    Target('video', 'fifa_nb.corpora.read_video_frames (FF++ videos through OpenCV)', lambda ctx: video_seeds(ctx['fixtures']), run_video, cost=4),
    Target('cli_argv', 'fifa_nb.cli.main(argv): landmarks, concepts, analyze, annotate on garbage files; train/evaluate/build-data/demo stubbed',
           lambda ctx: argv_seeds(), run_cli, 'argv', cost=4),
    Target('demo_path', 'fifa_nb.demo.read_picture on the same odd paths', lambda ctx: PATH_SEEDS, run_demo_path, 'path', atheris=True),
    Target('demo_upload', 'fifa_nb.demo.read_picture, handle_analyze (the shipped model) and handle_annotate on an uploaded file',
           lambda ctx: demo_seeds(), run_demo, 'bytes', cost=10),
    Target('demo_payload', 'fifa_nb.demo.picture_from_payload + read_picture on what a request may carry for an image: data: URLs '
           '(faces, bomb headers, junk base64), server paths, web addresses, odd dicts', lambda ctx: payload_seeds(), run_demo_payload, 'json',
           atheris=True),
    Target('question_text', 'fifa_nb.model.check_question, guess_task, query_sample and the tiny model\'s analyze on any text as a question',
           lambda ctx: question_seeds(), run_question, 'text', cost=4),
    Target('config_build', 'fifa_nb.model.FiFaConfig.from_dict then check_buildable (built and run on the meta device)',
           lambda ctx: config_seeds(), run_config_build, 'json', cost=4),
    Target('build_folder', 'fifa_nb.dataset._prepare (build-data\'s check of --out, with and without --force) on folders of planted '
           'files, manifests, plans and links: nothing a build did not write is ever deleted', lambda ctx: build_folder_seeds(),
           run_build_folder, 'json', cost=2),
    Target('folder_rerun', 'fifa_nb.batch.annotate_folder re-run after pictures, annotations and the summary were changed: '
           'no stale annotation is returned', lambda ctx: [bytes([i, 8 + i, 9, 0]) for i in range(6)], run_folder_rerun, 'bytes', cost=50),
]}

# ----------------------------------------------------------------------------------------------------------------------
# input generation


def generate(target, rng, seeds):
    "One input for `target`: random (10%) or a mutation of a seed."
    r = rng.random()
    seed = seeds[rng.integers(len(seeds))]
    if target.mutate == 'path':
        parts = [PATH_BITS[i] for i in rng.integers(0, len(PATH_BITS), rng.integers(1, 5))]
        return ('/'.join(parts) if rng.random() < 0.5 else ''.join(parts)).encode('utf-8', 'surrogateescape')
    if target.mutate == 'argv':
        tokens = seed.split(b'\x00') if seed else []
        for _ in range(rng.integers(1, 4)):
            i, op = int(rng.integers(0, len(tokens) + 1)), rng.integers(0, 4)
            tok = ARGV_TOKENS[rng.integers(len(ARGV_TOKENS))].encode('utf-8', 'surrogateescape')
            if op == 0 and tokens: tokens[min(i, len(tokens) - 1)] = tok
            elif op == 1: tokens.insert(i, tok)
            elif op == 2 and tokens: del tokens[min(i, len(tokens) - 1)]
            else: tokens.insert(i, mutate_bytes(rng, tok or b'x'))
        return b'\x00'.join(t.replace(b'\x00', b'') for t in tokens)
    if r < 0.1:
        if target.mutate == 'json': return jdump(random_json(rng))
        if target.mutate == 'text': return random_text(rng).encode('utf-8', 'surrogatepass')
        return rng.integers(0, 256, rng.integers(0, 600), dtype=np.uint8).tobytes()
    if target.mutate == 'json' and r < 0.6:
        try: return jdump(mutate_json(rng, json.loads(seed)))
        except ValueError: pass
    if target.mutate == 'text' and r < 0.7: return mutate_text(rng, seed.decode('utf-8', 'replace')).encode('utf-8', 'surrogatepass')
    if target.name in ('dataset_folder', 'celebamask_files'):   # the first byte says which file (or which damage)
        head, body = (bytes([rng.integers(256)]) if rng.random() < 0.15 else seed[:1]), seed[1:]
        if body[:1] in (b'{', b'[') and rng.random() < 0.5:
            with contextlib.suppress(ValueError): return head + jdump(mutate_json(rng, json.loads(body)))
        return head + mutate_bytes(rng, body, [s[1:] for s in seeds])
    return mutate_bytes(rng, seed, seeds)

# ----------------------------------------------------------------------------------------------------------------------
# the worker


class Stub(Exception): "A long command reached: the argument list was accepted (counted as a result)."
class CleanExit(Exception): "The command line refused the arguments with exit code 1 or 2 and a message."


def _vm_size():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmSize:'): return int(line.split()[1]) * 1024
    return 0


def _signature(exc_tb):
    "The innermost fifa_nb (else last) frame of a traceback: file:line."
    frames = traceback.extract_tb(exc_tb)
    inner = [f for f in frames if '/fifa_nb/' in f.filename] or frames
    f = inner[-1] if inner else None
    return f'{Path(f.filename).name}:{f.lineno} ({f.name})' if f else '?'


def worker(conn, ctx, memory_mb):
    import warnings
    warnings.simplefilter('ignore')   # Pillow warns about every damaged file; warnings are not failures
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1); os.dup2(devnull, 2)   # libtiff, FFmpeg and OpenCV print to the C streams; the tracebacks come back through the pipe
    if memory_mb:
        limit = _vm_size() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    os.chdir(ctx['scratch'])
    while True:
        try: name, data = conn.recv()
        except EOFError: return
        start = time.perf_counter()
        status, kind, message, where, tb = 'result', '', '', '', ''
        ctx['refused'] = False
        try:
            TARGETS[name].run(data, ctx)
            if ctx['refused']: status, kind = 'fifa_error', 'FifaError'
        except ctx['FifaError'] as e:
            status, kind, message = 'fifa_error', type(e).__name__, str(e)
            if not message.strip(): status, message = 'other', 'a FifaError with an empty message'
        except CleanExit as e: status, kind, message = 'fifa_error', 'exit', str(e)
        except BaseException as e:   # noqa: anything else is what we are looking for
            status, kind, message, where, tb = 'other', type(e).__name__, str(e)[:500], _signature(e.__traceback__), traceback.format_exc()[-6000:]
        conn.send((status, time.perf_counter() - start, kind, message[:300], where, tb))


def _short_text(text, n=160): return text if len(text) <= n else text[:n - 30] + ' ... ' + text[-25:]


def _check_message(e):
    if not str(e).strip(): raise AssertionError(f'{type(e).__name__} with an empty message')


def soft(ctx, *calls):
    "Run each call; a FifaError (with a message) is fine and marks the input as refused; anything else propagates."
    for call in calls:
        try: call()
        except ctx['FifaError'] as e: _check_message(e); ctx['refused'] = True


def prepare(names, work):
    "Everything the targets need, made once in the parent (workers are forked from it)."
    import fifa_nb.core as core
    from PIL import Image
    ctx = dict(scratch=str(work / 'scratch'), FifaError=core.FifaError, Stub=Stub, CleanExit=CleanExit, refused=False)
    (work / 'scratch').mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(work / 'scratch' / 'picture.png')   # the image of sample_row()
    if set(names) & {'ddvqa_json', 'corpus_csv', 'celebamask_files', 'video'}:
        from fifa_nb.corpus_fixtures import make_corpus_fixtures
        ctx['fixtures'] = {k: str(v) for k, v in make_corpus_fixtures(work / 'fixtures').items() if k != 'landmarks'}
    if 'dataset_folder' in names: ctx['dataset'] = str(make_tiny_fifa11(work / 'fifa11'))
    if 'question_text' in names:
        from fifa_nb.model import FiFaMLLM
        ctx['tiny'], ctx['face64'] = FiFaMLLM.from_preset('tiny', seed=0), np.full((64, 64, 3), 128, np.uint8)
    if 'folder_rerun' in names: ctx.update(make_pairs(work / 'pairs_src'))
    if set(names) & {'cli_argv', 'demo_upload', 'image_path', 'demo_path', 'demo_payload'}:
        face = work / 'face.jpg'
        face.write_bytes(face_jpeg())
        (work / 'bad.png').write_bytes(b'\x89PNG\r\n\x1a\n not really a png')
        (work / 'dir').mkdir(exist_ok=True)
        s = Path(ctx['scratch'])
        ctx['places'] = {'@face.jpg': str(face), '@bad.png': str(work / 'bad.png'), '@dir': str(work / 'dir'),
                         '@missing.png': str(work / 'missing.png'), '@out.png': str(s / 'out.png'), '@out.json': str(s / 'out.json'),
                         '@out.txt': str(s / 'out.txt'), '@outdir': str(s / 'outdir'), '@loop': str(work / 'loop'),
                         '@fifo': str(work / 'fifo'), '@upload': str(work / 'upload')}
        (work / 'upload').mkdir(exist_ok=True); (work / 'upload' / 'face.jpg').write_bytes(face.read_bytes())
        with contextlib.suppress(OSError): os.symlink(work / 'loop', work / 'loop')   # a link to itself
        with contextlib.suppress(OSError, AttributeError): os.mkfifo(work / 'fifo')    # opening it for reading would wait forever
    if 'cli_argv' in names:   # the long commands must never run here
        import fifa_nb.cli as cli, fifa_nb.dataset as dataset, fifa_nb.train as train, fifa_nb.demo as demo
        def stub(*a, **k): raise Stub()
        cli._cmd_demo = cli._cmd_build_data = stub
        dataset.build_dataset = train.train = demo.launch_demo = stub
    for name in names:   # import what the targets use, so that forked workers start warm
        if name in ('age_text', 'config_json', 'checkpoint_config'): import fifa_nb.model  # noqa
        if name == 'demo_upload':
            from fifa_nb.demo import load_model
            load_model()
        if name == 'cli_argv': import fifa_nb.cli  # noqa
    return ctx


def make_pairs(folder):
    "Two (real, fake) pairs of the sample faces, and other fakes of the same reals, for the folder re-run target."
    from fifa_nb.core import save_image
    from fifa_nb.samples import sample_face
    from fifa_nb.forgery import make_forgery
    folder.mkdir(parents=True, exist_ok=True)
    fakes = []
    for name, method in (('astronaut', 'brow_recolor'), ('grace_hopper', 'eye_squint')):
        face = sample_face(name)
        f = make_forgery(face.image, face.landmarks, method, seed=1)
        save_image(f.real, folder / f'{name}_real.png', overwrite=True); save_image(f.fake, folder / f'{name}_fake.png', overwrite=True)
        for k, other in enumerate(('mouth_open', 'lip_recolor')):
            save_image(make_forgery(face.image, face.landmarks, other, seed=2).fake, folder / f'other_{name}_{k}.png', overwrite=True)
            fakes.append(folder / f'other_{name}_{k}.png')
    return dict(pairs=folder, pair_names=['astronaut', 'grace_hopper'], fakes=[str(p) for p in fakes])


def make_tiny_fifa11(folder):
    "A FiFa-11 folder as build_dataset writes it (fifa11.json, arrow/<split>), with two rows per split, made in a second."
    from fifa_nb.dataset import SPLITS, sample_features, DATASET_FORMAT
    from fifa_nb.tasks import Sample, encode_png
    from fifa_nb.core import atomic_write_json
    import datasets
    datasets.disable_progress_bars()
    rows = []
    for i in range(2):
        mask = np.zeros((32, 32), bool); mask[5:20, 8:24] = True
        s = Sample(id=f'item-{i}/loc', task='loc', split='', image=np.full((32, 32, 3), 60 * i, np.uint8), question='Segment the forged area.',
                   answer='The manipulated area is [SEG].', masks=[mask], labels=dict(is_fake=True, family='attribute', method='smooth'),
                   concepts=['nose'], meta={'item': f'item-{i}'})
        rows.append(s.to_dict(encode_png(s.image)))
    dd = datasets.DatasetDict({sp: datasets.Dataset.from_list([{**r, 'split': sp} for r in rows], features=sample_features()) for sp in SPLITS})
    dd.save_to_disk(str(folder / 'arrow'))
    from fifa_nb.dataset import file_digests   # as build_dataset records them (a folder without digests is read unverified)
    atomic_write_json(folder / 'fifa11.json', dict(format=DATASET_FORMAT, n=2, samples=8, splits={sp: dict(samples=2) for sp in SPLITS},
                                                   digests=file_digests(folder)))
    return folder

# ----------------------------------------------------------------------------------------------------------------------
# the driver


@dataclass
class Tally:
    tried: int = 0
    result: int = 0
    fifa_error: int = 0
    other: int = 0
    timeout: int = 0
    crash: int = 0
    slowest: float = 0.0
    slowest_input: bytes = b''
    signatures: dict = field(default_factory=dict)   # signature -> (count, example file)


class Pool:
    "One worker process at a time, restarted after a hang or a crash."
    def __init__(self, ctx, memory_mb):
        self.ctx, self.memory_mb, self.proc, self.conn = ctx, memory_mb, None, None
        self.mp = get_context('fork')
    def start(self):
        parent, child = self.mp.Pipe()
        self.proc = self.mp.Process(target=worker, args=(child, self.ctx, self.memory_mb), daemon=True)
        self.proc.start(); child.close(); self.conn = parent
    def stop(self):
        if self.proc is not None:
            with contextlib.suppress(Exception): self.proc.kill()
            self.proc.join(5); self.proc = None
    def run(self, name, data, timeout):
        if self.proc is None or not self.proc.is_alive(): self.stop(); self.start()
        start = time.perf_counter()
        try:
            self.conn.send((name, data))
            if self.conn.poll(timeout): return self.conn.recv()
            self.stop(); return ('timeout', time.perf_counter() - start, 'timeout', f'no answer within {timeout} s', '', '')
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.proc.join(5); code = self.proc.exitcode; self.proc = None
            why = f'signal {signal.Signals(-code).name}' if code is not None and code < 0 else f'exit code {code}'
            return ('crash', time.perf_counter() - start, 'crash', f'the worker died ({why})', '', '')


def fuzz_target(name, n, pool, ctx, rng, timeout, failures, log):
    target, tally = TARGETS[name], Tally()
    seeds = target.seeds(ctx)
    inputs = seeds + [generate(target, rng, seeds) for _ in range(max(n - len(seeds), 0))]
    for i, data in enumerate(inputs[:n]):
        status, seconds, kind, message, where, tb = pool.run(name, data, timeout)
        tally.tried += 1
        if seconds > tally.slowest: tally.slowest, tally.slowest_input = seconds, data
        setattr(tally, status, getattr(tally, status) + 1)
        if status in ('other', 'timeout', 'crash'):
            sig = f'{kind} at {where}' if where else kind
            count, example = tally.signatures.get(sig, (0, None))
            if example is None:
                failures.mkdir(parents=True, exist_ok=True)
                example = failures / f'{name}-{len(tally.signatures) + 1:04d}.bin'
                example.write_bytes(data)
                example.with_suffix('.txt').write_text(f'{sig}\n{message}\n\n{tb}')
                log(f'  {name}: {sig}: {message[:160]} (input saved to {example})')
            tally.signatures[sig] = (count + 1, example)
    if tally.slowest > 1:   # kept for a look: what took so long?
        failures.mkdir(parents=True, exist_ok=True)
        (failures / f'{name}-slowest.bin').write_bytes(tally.slowest_input)
        log(f'  {name}: the slowest input took {tally.slowest:.2f} s (saved to {failures / f"{name}-slowest.bin"})')
    return tally


def table(tallies):
    head = '| target | what it calls | inputs tried | results | fifa_nb errors | other exceptions | hangs | crashes | slowest input (s) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|'
    rows = [f'| `{k}` | {TARGETS[k].calls} | {t.tried:,} | {t.result:,} | {t.fifa_error:,} | {t.other:,} | {t.timeout:,} | {t.crash:,} | {t.slowest:.3f} |'
            for k, t in tallies.items()]
    total = Tally(sum(t.tried for t in tallies.values()))
    return '\n'.join([head] + rows + [f'| **all** | | **{total.tried:,}** | {sum(t.result for t in tallies.values()):,} | '
                                      f'{sum(t.fifa_error for t in tallies.values()):,} | **{sum(t.other for t in tallies.values()):,}** | '
                                      f'{sum(t.timeout for t in tallies.values()):,} | {sum(t.crash for t in tallies.values()):,} | '
                                      f'{max((t.slowest for t in tallies.values()), default=0):.3f} |'])


def run_random(args):
    names = args.only or list(TARGETS)
    work = Path(tempfile.mkdtemp(prefix='fifa_nb_fuzz_'))
    log = lambda s: print(s, file=sys.stderr, flush=True)
    try:
        t0 = time.time()
        log(f'preparing seeds and fixtures for {len(names)} targets in {work} ...')
        ctx = prepare(names, work)
        log(f'ready in {time.time() - t0:.1f} s')
        pool, rng, tallies = Pool(ctx, args.memory_mb), np.random.default_rng(args.seed), {}
        for name in names:
            n = max(args.n // TARGETS[name].cost, 1)
            t1 = time.time()
            tallies[name] = fuzz_target(name, n, pool, ctx, rng, args.timeout, Path(args.failures), log)
            t = tallies[name]
            log(f'{name:18s} {t.tried:6,} inputs: {t.result:6,} results, {t.fifa_error:6,} fifa_nb errors, {t.other} other, '
                f'{t.timeout} hangs, {t.crash} crashes; slowest {t.slowest:.2f} s; {time.time() - t1:.0f} s')
        pool.stop()
        report(args, tallies, time.time() - t0, 'random + mutation')
        return 1 if any(t.other or t.timeout or t.crash for t in tallies.values()) else 0
    finally: shutil.rmtree(work, ignore_errors=True)


def _rel(path):
    with contextlib.suppress(ValueError): return Path(path).resolve().relative_to(ROOT)
    return path


def report(args, tallies, seconds, mode):
    text = table(tallies)
    failures = [(k, sig, c, _rel(ex)) for k, t in tallies.items() for sig, (c, ex) in t.signatures.items()]
    print('\n' + text)
    if failures:
        print('\nfailures (each saved with its traceback; rerun one with --replay FILE):')
        for k, sig, c, ex in failures: print(f'  {k}: {sig} x{c}  {ex}')
    if args.out:
        cmd = 'python scripts/fuzz.py ' + ' '.join(sys.argv[1:])
        section = [f'## {mode}', '',
                   f'Command: `{cmd}` (seed {args.seed}, at most {args.timeout:g} s and {args.memory_mb} MB per input), run on '
                   f'{time.strftime("%Y-%m-%d")} in {seconds / 60:.1f} minutes on {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}.',
                   '', text, '']
        if failures:
            section += ['Failures (signature, count, saved input):', ''] + [f'- `{k}`: {sig} x{c} (`{ex}`)' for k, sig, c, ex in failures] + ['']
        else: section += ['No failures.', '']
        write_section(Path(args.out), mode, '\n'.join(section))
        print(f'wrote {args.out}')


INTRO = '''# Fuzzing fifa_nb

What `scripts/fuzz.py` ran, and what came out. Every input must end in a result or a fifa_nb error (`FifaError` with a
message; for the command line, exit code 1 or 2 with a message). "Other exceptions" counts everything else, broken
properties included (the RLE round trip, `age_phrases` agreeing with its regular expression); hangs are inputs that
ran past the time limit, crashes are workers that died (a segfault, or the memory cap). A target that calls several
functions counts an input as a fifa_nb error when one of them refused it. Expensive targets get a fraction of N
(`python scripts/fuzz.py --list`). The bounded property-based suite that runs in CI is `tests/test_fuzz.py`.
'''


def _section_order(section):
    "The random + mutation run first, then the atheris run, then any notes written by hand."
    heading = section.split('\n')[0]
    return 0 if 'random' in heading else 1 if 'atheris' in heading else 2


def write_section(path, mode, section):
    "Write `section` under its heading in the report at `path`, keeping the other modes' sections."
    old = path.read_text() if path.exists() else INTRO
    parts = re.split(r'(?m)^(?=## )', old)
    head, sections = parts[0], [p for p in parts[1:] if not p.startswith(f'## {mode}')]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head.rstrip() + '\n\n' + '\n'.join(x.rstrip() + '\n' for x in sorted(sections + [section], key=_section_order)))

# ----------------------------------------------------------------------------------------------------------------------
# atheris (coverage-guided)


def atheris_worker(args):
    "Runs inside `python scripts/fuzz.py --atheris-worker NAME ...`: libFuzzer drives TestOneInput."
    import atheris
    name, counts_file = args.atheris_worker, Path(args.counts)
    work = Path(tempfile.mkdtemp(prefix='fifa_nb_atheris_'))
    with atheris.instrument_imports(include=['fifa_nb']):
        import fifa_nb.core, fifa_nb.masks, fifa_nb.landmarks, fifa_nb.annotator, fifa_nb.tasks, fifa_nb.concepts  # noqa
        if name in ('age_text', 'config_json', 'checkpoint_config'): import fifa_nb.model  # noqa
        if name == 'demo_text': import fifa_nb.demo  # noqa
    ctx = prepare([name], work)
    os.chdir(ctx['scratch'])
    counts = dict(tried=0, result=0, fifa_error=0, slowest=0.0)
    def one(data):
        start = time.perf_counter()
        counts['tried'] += 1
        ctx['refused'] = False
        try:
            TARGETS[name].run(bytes(data), ctx)
            counts['fifa_error' if ctx['refused'] else 'result'] += 1
        except ctx['FifaError'] as e:
            _check_message(e); counts['fifa_error'] += 1
        finally:   # written after every input: libFuzzer ends the process with C's exit(), so no Python exit hook runs
            counts['slowest'] = max(counts['slowest'], time.perf_counter() - start)
            counts_file.write_text(json.dumps(counts))
    atheris.Setup([sys.argv[0], f'-runs={args.n}', f'-seed={args.seed + 1}', f'-timeout={int(args.timeout)}', f'-rss_limit_mb={args.memory_mb + 2500}',
                   '-max_len=65536', args.corpus, f'-artifact_prefix={args.artifacts}'], one)
    atheris.Fuzz()


def run_atheris(args):
    try: import atheris  # noqa
    except ImportError:
        print('--atheris needs atheris, which is not installed here: pip install atheris (prebuilt wheels for CPython 3.10-3.13 '
              'on Linux x86-64). Skipping the coverage-guided mode.', file=sys.stderr)
        return 0
    names = [n for n in (args.only or TARGETS) if TARGETS[n].atheris]
    tallies, t0 = {}, time.time()
    failures = Path(args.failures)
    for name in names:
        work = Path(tempfile.mkdtemp(prefix=f'fifa_nb_atheris_{name}_'))
        corpus, counts = work / 'corpus', work / 'counts.json'
        corpus.mkdir()
        ctx = prepare([name], work / 'prep')
        for i, s in enumerate(TARGETS[name].seeds(ctx)): (corpus / f'seed{i:03d}').write_bytes(s)
        failures.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, '--atheris-worker', name, '--n', str(args.n), '--timeout', str(args.timeout), '--seed', str(args.seed),
               '--memory-mb', str(args.memory_mb), '--counts', str(counts), '--corpus', str(corpus), '--artifacts', str(failures / f'atheris-{name}-')]
        import subprocess
        t1 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.n * args.timeout + 600)
        c = json.loads(counts.read_text()) if counts.exists() else dict(tried=0, result=0, fifa_error=0, slowest=0.0)
        t = Tally(c['tried'], c['result'], c['fifa_error'], slowest=c['slowest'])
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            kind = 'timeout' if 'ERROR: libFuzzer: timeout' in output else 'crash' if 'deadly signal' in output or 'out-of-memory' in output else 'other'
            setattr(t, kind, 1)
            log_file = failures / f'atheris-{name}.log'
            log_file.write_text(output[-30000:])
            last = [l for l in output.splitlines() if re.match(r'^[A-Za-z_.]*(Error|Exception|Warning)\b', l)]
            t.signatures[f'{kind}: {_short_text(last[-1]) if last else "see the log"}'] = (1, log_file)
        tallies[name] = t
        print(f'{name:18s} atheris: {t.tried:,} inputs ({t.result:,} results, {t.fifa_error:,} fifa_nb errors), '
              f'exit {proc.returncode}, {time.time() - t1:.0f} s', file=sys.stderr, flush=True)
        shutil.rmtree(work, ignore_errors=True)
    report(args, tallies, time.time() - t0, 'atheris, coverage-guided')
    return 1 if any(t.other or t.timeout or t.crash for t in tallies.values()) else 0


def replay(path):
    "Run one saved input in this process, so that its traceback shows."
    path = Path(path).resolve()
    name = path.stem.split('-', 1)[0]   # <target>-<number or label>.bin
    work = Path(tempfile.mkdtemp(prefix='fifa_nb_replay_'))
    ctx = prepare([name], work)
    os.chdir(ctx['scratch'])
    TARGETS[name].run(path.read_bytes(), ctx)
    print(f'{name}: no exception')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument('--n', type=int, default=2000, help='inputs per target (expensive targets: a fraction, see --list); default 2000')
    p.add_argument('--only', nargs='+', choices=list(TARGETS), help='fuzz these targets only')
    p.add_argument('--seed', type=int, default=0, help='random seed; default 0')
    p.add_argument('--timeout', type=float, default=20, help='seconds per input before it counts as a hang; default 20')
    p.add_argument('--memory-mb', type=int, default=3000, help="memory cap per worker above its starting size (RLIMIT_AS); default 3000")
    p.add_argument('--failures', default=str(ROOT / 'results' / 'fuzz_failures'), help='where failing inputs are saved')
    p.add_argument('--out', help='also write the table to this Markdown file (e.g. results/fuzz.md)')
    p.add_argument('--atheris', action='store_true', help='coverage-guided fuzzing with atheris instead of random + mutation')
    p.add_argument('--list', action='store_true', help='list the targets')
    p.add_argument('--replay', help='run one saved failing input in-process and show its traceback')
    p.add_argument('--atheris-worker', help=argparse.SUPPRESS)
    p.add_argument('--counts', help=argparse.SUPPRESS); p.add_argument('--corpus', help=argparse.SUPPRESS)
    p.add_argument('--artifacts', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.list:
        for t in TARGETS.values(): print(f'{t.name:18s} N/{t.cost:<3d} {"atheris" if t.atheris else "       "}  {t.calls}')
        return 0
    if args.replay: replay(args.replay); return 0
    if args.atheris_worker: return atheris_worker(args)
    return run_atheris(args) if args.atheris else run_random(args)


if __name__ == '__main__':
    for key, value in dict(OMP_NUM_THREADS='1', MPLBACKEND='Agg', TOKENIZERS_PARALLELISM='false', HF_DATASETS_OFFLINE='1',
                           HF_HUB_OFFLINE='1').items(): os.environ.setdefault(key, value)   # set here: tests import this file too
    sys.exit(main())
