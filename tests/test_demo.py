"""The demo for real: handlers on bad input, the app launched in-process on 127.0.0.1 and called through gradio_client,
and a headless-Chromium test of the page (Playwright driving the system's Chromium)."""
import io, json, os, shutil
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
from fifa_nb.core import FifaError, load_image
from fifa_nb.masks import rle_decode
from fifa_nb.show import palette_color
from fifa_nb import demo as D

SAMPLE = 'astronaut/swap_mouth'

# ---------- handlers, no server ----------

def _save(img, path, **kw):
    img.save(path, **kw); return str(path)

@pytest.fixture(scope='module')
def bad_files(tmp_path_factory):
    t = tmp_path_factory.mktemp('bad')
    face = D.demo_sample('grace_hopper')['picture']
    frames = [Image.fromarray(face), Image.fromarray(face[:, ::-1].copy())]
    frames[0].save(t / 'anim.gif', save_all=True, append_images=frames[1:])
    (t / 'notes.jpg').write_text('this is not a picture')
    (t / 'empty.png').write_bytes(b'')
    raw = io.BytesIO(); Image.fromarray(face).save(raw, 'PNG'); (t / 'cut.png').write_bytes(raw.getvalue()[:len(raw.getvalue()) // 3])
    return dict(
        anim=str(t / 'anim.gif'), text=str(t / 'notes.jpg'), empty=str(t / 'empty.png'), truncated=str(t / 'cut.png'),
        bomb=_save(Image.new('L', (8000, 8000)), t / 'bomb.png'),           # 64 MP of one colour: a few kB on disk
        tiny=_save(Image.fromarray(face).resize((12, 14)), t / 'tiny.png'),
        blank=_save(Image.new('RGB', (320, 320), 'gray'), t / 'blank.png'),
        deep=_save(Image.fromarray(face[..., 1].astype(np.uint16) * 257), t / 'deep16.png'),
    )

@pytest.mark.parametrize('kind, words', [('text', 'not an image'), ('empty', 'empty'), ('truncated', 'truncated'),
                                         ('bomb', 'pixels'), ('tiny', 'small'), ('blank', 'face')])
def test_bad_pictures_give_readable_errors(bad_files, kind, words):
    with pytest.raises(FifaError) as e: D.handle_analyze(bad_files[kind], 'age')
    assert words in str(e.value).lower(), str(e.value)

def test_animated_and_16_bit_pictures_are_read_with_a_note(bad_files):
    pic, notes = D.read_picture(bad_files['anim'])
    assert pic.dtype == np.uint8 and pic.ndim == 3 and 'first frame' in notes[0]
    pic, notes = D.read_picture(bad_files['deep'])
    assert pic.dtype == np.uint8 and pic.max() > 200 and 'high bit depth' in notes[0]

def test_a_sample_named_file_with_other_pixels_is_not_taken_for_the_sample(tmp_path):
    "The demo reuses a sample's known landmarks only when the pixels match, not just the file name."
    fake = tmp_path / (SAMPLE.replace('/', '__') + '.picture.png')
    Image.new('RGB', (300, 300), 'gray').save(fake)
    with pytest.raises(FifaError, match='face'): D.handle_analyze(str(fake), 'age')
    face = D._face_for(D.sample_file(SAMPLE))
    assert face.backend == D.demo_sample(SAMPLE)['landmarks'].backend

def test_region_and_box_handlers():
    model = D.load_model()
    pic, pieces, md, js = D.handle_region(None, 'mouth', '', 'region_det', sample=SAMPLE, model=model)
    assert js['task'] == 'region_det' and 'mouth' in js['question'] and '<region>' in js['question']
    assert pic.shape == (2 * D.FACE_SIZE, 2 * D.FACE_SIZE, 3)
    pic, pieces, md, js = D.handle_region(None, None, '80, 150, 180, 220', 'region_exp', sample=SAMPLE, model=model)
    assert js['task'] == 'box_det' and '<region>' in js['question']
    for box in ('1, 2, 3', '10, 10, 5, 5', '0, 0, 999, 999', 'a, b, c, d'):
        with pytest.raises(FifaError): D.handle_region(None, None, box, 'box_det', sample=SAMPLE, model=model)
    face = D._face_for(D.sample_file(SAMPLE))
    for name in ('right_upper_lip', 'lower_nose_bridge', 'left_eyebrow_head'):   # a click (on the 2x picture) inside a concept picks it
        x, y = D._deepest_point(face.concepts.mask(name))
        assert D.handle_click(None, 2 * x + 1, 2 * y + 1, sample=SAMPLE) == name

def test_highlights_and_masks_share_colours():
    "The i-th phrase is labelled i + 1; label i + 1 has palette colour i; the answer picture paints mask i in colour i."
    # an answer with grounded phrases (the annotator's, on the demo's crop): the shipped model may well answer 'real'
    from fifa_nb.annotator import annotate, AgeSegment
    from fifa_nb.model import Analysis
    s = D.demo_sample(SAMPLE)
    face = D.find_face(s['picture'], landmarks=s['landmarks'])
    ann = annotate(s['real'], s['picture'], s['landmarks'])
    segs = [AgeSegment(g.phrase, g.concept, D.crop_like(face, g.mask)) for g in ann.age]
    a = Analysis(verdict='fake', score=0.9, family='region_swap', text=ann.plain_text, segments=segs, raw_text=ann.text,
                 image=face.image, face=face.describe())
    pic, pieces, md, js = D.analysis_outputs(a)
    assert segs and D.handle_analyze(None, 'age', sample=SAMPLE)[3]['verdict'] in ('real', 'fake')
    colors = D.label_colors()
    labelled = [lab for _, lab in pieces if lab]
    assert labelled and labelled == [str(i + 1) for i, s in enumerate(js['segments']) if s['phrase']][:len(labelled)]
    for i, seg in enumerate(js['segments']):
        assert colors[str(i + 1)] == '#%02x%02x%02x' % palette_color(i)
        mask = rle_decode(seg['mask'])
        if mask.sum() < 200: continue
        big = np.kron(mask, np.ones((2, 2), bool))          # the picture is drawn at 2x
        tint = pic[big].astype(float).mean(0)
        plain = np.kron(D.find_face(D.demo_sample(SAMPLE)['picture'], landmarks=D.demo_sample(SAMPLE)['landmarks']).image,
                        np.ones((2, 2, 1), np.uint8))[big].astype(float).mean(0)
        # the overlay moves the pixels towards the mask's colour
        assert np.linalg.norm(tint - np.array(palette_color(i))) < np.linalg.norm(plain - np.array(palette_color(i)))

# ---------- the app in-process, through gradio_client ----------

@pytest.fixture(scope='module')
def app():
    demo = D.launch_demo(port=None, block=False)
    from gradio_client import Client
    client = Client(demo.local_url, verbose=False)
    yield demo, client
    demo.close()

def test_named_endpoints(app):
    _, client = app
    api = client.view_api(print_info=False, return_format='dict')
    assert {'/sample', '/analyze', '/ask_region', '/annotate'} <= set(api['named_endpoints'])

def test_analyze_endpoint_with_an_upload(app):
    from gradio_client import handle_file
    _, client = app
    picture, pieces, verdict, answer = client.predict(handle_file(D.sample_file(SAMPLE)), 'age', '', None, api_name='/analyze')
    assert Path(picture).is_file() and load_image(picture).shape == (2 * D.FACE_SIZE, 2 * D.FACE_SIZE, 3)
    assert verdict.startswith('### ') and answer['verdict'] in ('real', 'fake')
    assert answer['face']['size'] == D.FACE_SIZE and len(answer['face']['box']) == 4
    assert ''.join(p['token'] for p in pieces) == answer['text']
    for seg in answer['segments']:
        if seg['mask'] is not None: assert rle_decode(seg['mask']).shape == (D.FACE_SIZE, D.FACE_SIZE)

def test_sample_region_and_annotate_endpoints(app):
    from gradio_client import handle_file
    _, client = app
    path = client.predict(SAMPLE, api_name='/sample')
    assert np.array_equal(load_image(path), D.demo_sample(SAMPLE)['picture'])
    *_, answer = client.predict(None, 'left_eyebrow', '', 'region_det', '', 'grace_hopper/swap_eyes', api_name='/ask_region')
    assert answer['task'] == 'region_det' and 'left eyebrow' in answer['question']
    diff, pic, pieces, md, ann = client.predict(handle_file(D.sample_file('grace_hopper/swap_eyes', 'real')),
                                                handle_file(D.sample_file('grace_hopper/swap_eyes')), 'hysteresis', None,
                                                api_name='/annotate')
    assert ann['format'] == 'fifa_nb.annotation/1' and ann['verdict'] == 'fake' and ann['concepts']
    assert md.startswith('### FAKE') and Path(diff).is_file() and Path(pic).is_file()

def test_bad_input_through_the_client_is_a_message(app, bad_files):
    from gradio_client import handle_file
    _, client = app
    for kind, words in [('text', 'not an image'), ('bomb', 'pixels'), ('blank', 'face')]:
        with pytest.raises(Exception) as e: client.predict(handle_file(bad_files[kind]), 'age', '', None, api_name='/analyze')
        assert words in str(e.value).lower() and 'Traceback' not in str(e.value), str(e.value)
        assert 'gradio' not in str(e.value), str(e.value)   # the file's own name, not the server's upload folder
    with pytest.raises(Exception, match='Upload a picture'): client.predict(None, 'age', '', None, api_name='/analyze')
    *_, answer = client.predict(handle_file(bad_files['anim']), 'age', '', None, api_name='/analyze')
    assert any('first frame' in w for w in answer['warnings'])

def test_upload_size_limit(app, tmp_path):
    "Uploads over DEMO_MAX_FILE_SIZE (15 MB) are refused before they reach a handler."
    from gradio_client import handle_file
    _, client = app
    big = tmp_path / 'big.png'; big.write_bytes(os.urandom(16 * 2 ** 20))
    with pytest.raises(Exception, match='maximum file size'): client.predict(handle_file(str(big)), 'age', '', None, api_name='/analyze')

# ---------- the page in a real browser ----------

def _chromium():
    for name in ('chromium', 'chromium-browser'):
        if shutil.which(name): return shutil.which(name)
    return None

def test_browser_pick_a_sample_and_analyze(app, tmp_path):
    "Open the page in headless Chromium, pick a sample, click Analyze: the explanation is highlighted and the answer shows the masks."
    exe = _chromium()
    if exe is None:
        if os.environ.get('FIFA_NB_REQUIRE_BROWSER'): pytest.fail('Chromium is not installed (apt-get install -y chromium)')
        pytest.skip('no Chromium here: apt-get install -y chromium (CI installs it)')
    from playwright.sync_api import sync_playwright
    demo, _ = app
    shot = Path(os.environ.get('FIFA_NB_SCREENSHOT', tmp_path / 'demo.png'))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                                                               '--disable-component-update', '--no-first-run', '--disable-sync'])
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 1000})
            page.goto(demo.local_url)
            page.wait_for_selector('#analyze', timeout=60_000)
            page.click('#sample input')
            page.locator('li', has_text=SAMPLE).first.click()
            page.wait_for_function("document.querySelector('#picture img') !== null", timeout=30_000)
            page.click('#analyze')
            page.wait_for_function("(() => { const i = document.querySelector('#answer-picture img'); return i && i.complete && i.naturalWidth > 0 })()",
                                   timeout=90_000)
            page.wait_for_timeout(500)   # the highlighted explanation arrives with the picture
            spans = page.locator('#explanation .token.highlighted')
            colours = [spans.nth(i).evaluate('e => getComputedStyle(e).backgroundColor') for i in range(spans.count())]
            src = page.locator('#answer-picture img').get_attribute('src')
            shown = load_image(page.request.get(src).body())
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True, **({'quality': 80} if shot.suffix.lower() in ('.jpg', '.jpeg') else {}))
        finally: browser.close()
    expected, _, _, answer = D.handle_analyze(None, 'age', sample=SAMPLE)
    if not any(seg['mask'] is not None for seg in answer['segments']):   # the model called it real: nothing to paint
        assert answer['verdict'] == 'real' and not colours and shown.shape == expected.shape
        assert np.abs(shown.astype(float) - expected.astype(float)).mean() < 8   # the page shows the answer picture
        assert shot.stat().st_size > 20_000
        return
    assert colours and colours[0].replace(' ', '').startswith('rgba(%d,%d,%d' % palette_color(0)), colours
    import cv2
    face = D._face_for(D.sample_file(SAMPLE)).image
    plain = cv2.resize(face, (2 * D.FACE_SIZE,) * 2, interpolation=cv2.INTER_CUBIC)
    painted = np.zeros(plain.shape[:2], bool)
    for seg in answer['segments']:
        if seg['mask'] is not None: painted |= np.kron(rle_decode(seg['mask']), np.ones((2, 2), bool))
    assert shown.shape == expected.shape and painted.sum() > 500
    err = lambda a, b: np.abs(a[painted].astype(float) - b[painted].astype(float)).mean()
    # on the masks' pixels the page shows the painted picture (up to lossy compression), not the plain face
    assert err(shown, expected) < err(shown, plain) / 3, (err(shown, expected), err(shown, plain))
    assert shot.stat().st_size > 20_000

# ---------- under load ----------

def _burst(url, picture, n, clients=4):
    "n Analyze requests at once; (answers, error messages)."
    from concurrent.futures import ThreadPoolExecutor
    from gradio_client import Client, handle_file
    conns = [Client(url, verbose=False) for _ in range(clients)]
    def one(i):
        try: return conns[i % clients].predict(handle_file(picture), 'age', '', None, api_name='/analyze')[3], None
        except Exception as e: return None, str(e)
    with ThreadPoolExecutor(n) as pool: results = list(pool.map(one, range(n)))
    return [a for a, _ in results if a is not None], [e for _, e in results if e is not None]

def test_twenty_concurrent_requests_complete(app, tmp_path):
    "20 uploads at once through gradio_client: every one is answered, and the answers agree (one worker, queued)."
    demo, _ = app
    picture = tmp_path / 'upload.png'; shutil.copy(D.sample_file(SAMPLE), picture)
    answers, errors = _burst(demo.local_url, str(picture), 20)
    assert not errors and len(answers) == 20
    assert len({(a['verdict'], a['text']) for a in answers}) == 1      # the same picture, the same answer, whatever the order

class _SlowModel:
    "The shipped model, one second slower per answer: keeps the worker busy so the queue fills up."
    def __init__(self, model): self.model = model
    def analyze(self, *args, **kwargs):
        import time; time.sleep(1.0); return self.model.analyze(*args, **kwargs)
    def __getattr__(self, name): return getattr(self.model, name)

def test_the_queue_is_bounded(tmp_path):
    "With 2 places in the queue and 1 worker, 10 requests at once: the surplus is refused at once, not held in memory."
    demo = D.launch_demo(port=None, block=False, model=_SlowModel(D.load_model()), queue_size=2)
    try:
        picture = tmp_path / 'upload.png'; shutil.copy(D.sample_file(SAMPLE), picture)
        answers, errors = _burst(demo.local_url, str(picture), 10, clients=10)
    finally: demo.close()
    assert errors and all('queue is full' in e.lower() for e in errors), errors
    assert 1 <= len(answers) <= 5 and len(answers) + len(errors) == 10, (len(answers), errors)
