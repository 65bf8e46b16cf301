"""Interrupted work (issue 7): `fifa_nb build-data`, `train` and `annotate-folder` are killed with SIGKILL at random
moments, several times, then run to completion; the result must equal an uninterrupted run, with nothing lost or
corrupted, no temporary debris left, and finished outputs never overwritten without --force.

The kill moments are drawn at random (seeded: set FIFA_NB_KILL_SEED to replay a run; the seed and the moments are
printed, see `pytest -s`), uniformly over the length of the uninterrupted run measured first."""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
KILLS = 4   # SIGKILLs per job
SEED = int(os.environ.get('FIFA_NB_KILL_SEED', time.time_ns() % 2 ** 32))


def _env(tmp):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg', TMPDIR=str(tmp), HF_HOME=str(tmp / 'hf'),
               HF_DATASETS_OFFLINE='1', HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env


def _start(args, tmp):
    "`fifa_nb ARGS` as its own process group (so a kill reaches any worker it started)."
    code = 'import sys; from fifa_nb.cli import main; raise SystemExit(main(sys.argv[1:]))'
    return subprocess.Popen([sys.executable, '-c', code, *map(str, args)], cwd=tmp, env=_env(tmp), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(args, tmp, timeout=240):
    p = _start(args, tmp)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


def _kill_at(args, tmp, delay, progress=None, finished_says=None):
    """Start the command and SIGKILL it (and its group) `delay` seconds after it starts or, with `progress`, `delay` seconds
    after it first saves new work (`progress()` grows): whether it was still running then."""
    p, start = _start(args, tmp), time.time()
    base, due = (progress(), None) if progress else (None, start + delay)
    while p.poll() is None:
        if due is None and progress() > base: due = time.time() + delay
        if due is not None and time.time() >= due:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL, p.returncode
            return True
        time.sleep(0.02)
    out, _ = p.communicate()
    assert p.returncode == 0 or (finished_says and finished_says in out), f'the run ended before its kill, but failed:\n{out[-3000:]}'
    return False


def _kill_and_resume(name, args_for, tmp, reference_seconds, progress, finished, jitter, kills=KILLS, finished_says=None):
    """Start the job and SIGKILL it at a random moment, `kills` times (each start continues the last one), then run it to
    the end; the report of what happened.

    The first kill comes at a random moment of the uninterrupted run's length (start-up included); the others at a random
    moment within `jitter` seconds after the restarted job saved new work (`progress()`, the finished units on disk, grows),
    so that they land in the middle of the work rather than in the imports. Once `finished()` (the output is complete) the
    series ends. `finished_says`: what a run may answer instead of succeeding when the output was already complete
    (build-data refuses to redo a finished dataset)."""
    rng = random.Random(f'{SEED}-{name}')
    plan = [(round(rng.uniform(0.15, 0.4) * reference_seconds, 2), None)]
    plan += [(round(rng.uniform(0, jitter), 2), progress) for _ in range(kills - 1)]
    hit, saved = [], []
    for delay, watch in plan:
        hit.append(_kill_at(args_for(), tmp, delay, watch, finished_says))
        saved.append(progress())
        if finished(): break
    moments = [f'{d} s after start' if w is None else f'{d} s after new work' for d, w in plan[:len(hit)]]
    report = (f'{name}: seed {SEED}, uninterrupted run {reference_seconds:.1f} s; SIGKILL {moments}; '
              f'killed while running: {hit}; saved progress after each: {saved}')
    print('\n' + report)
    rc, out = _finish(args_for(), tmp)   # the run that finishes the job (or finds it finished)
    assert rc == 0 or (finished_says and finished_says in out), f'{report}\nthe run after the kills failed:\n{out[-3000:]}'
    done = progress()
    # on a busy machine a restarted job may finish before its next kill is due: at least two must land, one mid-work
    assert sum(hit) >= 2, f'{report}: fewer than two kills landed while the job ran'
    assert sum(0 < v < done for v, h in zip(saved, hit) if h) >= 1, f'{report}: no kill landed in the middle of the work'
    return report, hit


def _hidden(folder):
    "Temporary debris: hidden files and folders anywhere under `folder`."
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob('.*'))


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(Path(folder).rglob('*')) if p.is_file()}


# ------------------------------------------------------------------ build-data

BUILD = ['build-data', '--n', '12', '--shard-items', '2', '--quiet']


def _dataset_content(folder):
    "Everything a FiFa-11 folder holds that must not depend on how the build went (timings and random fingerprints aside)."
    folder = Path(folder)
    files = {}
    for p in sorted(folder.rglob('*')):
        if not p.is_file(): continue
        rel = str(p.relative_to(folder))
        if p.name == 'state.json': files[rel] = {k: v for k, v in json.loads(p.read_text()).items() if k != '_fingerprint'}
        elif p.name == 'fifa11.json':
            files[rel] = {k: v for k, v in json.loads(p.read_text()).items()
                          if k not in ('out_dir', 'seconds', 'shards_built', 'num_proc', 'digests')}   # digests cover state.json's fingerprint
        else: files[rel] = p.read_bytes()
    return files


def test_build_data_killed_and_resumed(tmp_path):
    t0 = time.time()
    rc, out = _finish(BUILD + ['--out', 'straight'], tmp_path)
    reference = time.time() - t0
    assert rc == 0, out
    killed = tmp_path / 'killed'
    def progress():   # identities made + shards finished (+ 1 when the dataset is assembled and _work removed)
        work = killed / '_work'
        if (killed / 'fifa11.json').exists() and not work.exists(): return 100
        return len(list(work.glob('identities/[!.]*.npz'))) + len(list(work.glob('shards/[!.]*')))
    report, hit = _kill_and_resume('build-data', lambda: BUILD + ['--out', 'killed'], tmp_path, reference, progress,
                                   finished=lambda: (killed / 'fifa11.json').exists(), jitter=0.5,
                                   finished_says='already holds a FiFa-11 dataset')
    a, b = _dataset_content(tmp_path / 'straight'), _dataset_content(tmp_path / 'killed')
    assert sorted(a) == sorted(b), (report, sorted(set(a) ^ set(b)))
    assert [k for k in a if a[k] != b[k]] == [], report   # Arrow and Parquet files byte for byte, manifests equal
    assert _hidden(tmp_path / 'killed') == [] and not (tmp_path / 'killed' / '_work').exists(), report
    from fifa_nb.dataset import load_fifa11
    rows = load_fifa11(tmp_path / 'killed')
    assert sum(len(rows[s]) for s in rows) == json.loads((tmp_path / 'killed' / 'fifa11.json').read_text())['samples']
    # a finished dataset is never overwritten without --force
    before = _snapshot(tmp_path / 'killed')
    rc, out = _finish(BUILD + ['--out', 'killed'], tmp_path)
    assert rc == 1 and 'already holds a FiFa-11 dataset' in out and _snapshot(tmp_path / 'killed') == before


# ------------------------------------------------------------------ train

@pytest.fixture(scope='module')
def fifa11(tmp_path_factory):
    from fifa_nb.dataset import build_dataset
    out = tmp_path_factory.mktemp('data') / 'fifa11'
    build_dataset(out, n=12, seed=0, progress=False)
    return out


TIMING = ('elapsed_s', 'samples_per_s')


def _safetensors_header(run):
    "The header of a run's model.safetensors, parsed (its metadata's key order is not stable from one save to the next)."
    raw = (run / 'model' / 'model.safetensors').read_bytes()
    return json.loads(raw[8:8 + int.from_bytes(raw[:8], 'little')])


def test_train_killed_and_resumed(tmp_path, fifa11):
    from safetensors.torch import load_file
    import torch
    base = ['train', '--preset', 'tiny', '--data', fifa11, '--steps', '100', '--batch-size', '2', '--save-every', '4',
            '--log-every', '2', '--warmup', '4', '--quiet']
    t0 = time.time()
    rc, out = _finish(base + ['--out', 'straight'], tmp_path)
    reference = time.time() - t0
    assert rc == 0, out

    def args():   # what a user does: --resume once the run folder holds a run
        return base + ['--out', 'killed'] + (['--resume'] if (tmp_path / 'killed' / 'train_config.json').exists() else [])
    def progress():   # the step of the newest checkpoint (+ 1 once the final model is saved)
        cks = sorted((tmp_path / 'killed' / 'checkpoints').glob('step-*'))
        return int(cks[-1].name[5:]) + (tmp_path / 'killed' / 'model').is_dir() if cks else 0
    report, hit = _kill_and_resume('train', args, tmp_path, reference, progress, finished=lambda: (tmp_path / 'killed' / 'model').is_dir(),
                                   jitter=0.6)
    a = load_file(str(tmp_path / 'straight' / 'model' / 'model.safetensors'))
    b = load_file(str(tmp_path / 'killed' / 'model' / 'model.safetensors'))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f'{report}: the weights differ'
    assert _safetensors_header(tmp_path / 'straight') == _safetensors_header(tmp_path / 'killed'), report   # names, shapes, offsets, metadata
    logs = [[{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in (tmp_path / run / 'log.jsonl').read_text().splitlines()]
            for run in ('straight', 'killed')]
    assert logs[0] == logs[1], f'{report}: the logs differ'   # every record once, in order, with the same losses
    assert [p.name for p in sorted((tmp_path / 'killed' / 'checkpoints').iterdir())] == ['step-0000096', 'step-0000100'], report
    assert _hidden(tmp_path / 'killed') == [], report
    from fifa_nb.model import FiFaMLLM, verify_manifest
    for ck in (tmp_path / 'killed' / 'checkpoints').iterdir(): verify_manifest(ck)
    FiFaMLLM.from_pretrained(tmp_path / 'killed' / 'model')
    # a finished run is never overwritten without resuming it
    before = _snapshot(tmp_path / 'killed')
    rc, out = _finish(base + ['--out', 'killed'], tmp_path)
    assert rc == 1 and 'already holds a run' in out and _snapshot(tmp_path / 'killed') == before


# ------------------------------------------------------------------ annotate-folder

@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    from fifa_nb.core import save_image
    from fifa_nb.samples import sample_face
    from fifa_nb.forgery import make_forgery
    folder = tmp_path_factory.mktemp('pairs')
    astro, grace = sample_face('astronaut'), sample_face('grace_hopper')
    for face, method, donor in [(astro, 'smile', None), (astro, 'swap_nose', grace), (astro, 'lip_recolor', None), (astro, 'nose_slim', None),
                                (grace, 'eye_squint', None), (grace, 'swap_mouth', astro), (grace, 'brow_recolor', None), (grace, 'mouth_open', None)]:
        f = make_forgery(face.image, face.landmarks, method, donor=donor, seed=2)
        save_image(f.real, folder / f'{face.name}-{method}_real.png'); save_image(f.fake, folder / f'{face.name}-{method}_fake.png')
    save_image(f.real, folder / 'odd_real.png'); save_image(f.fake[:-8], folder / 'odd_fake.png')   # sizes differ: an error
    save_image(f.fake, folder / 'single_fake.png')                                                    # no partner
    return folder


def test_annotate_folder_killed_and_resumed(tmp_path, pairs):
    base = ['annotate-folder', pairs, '--quiet']
    t0 = time.time()
    rc, out = _finish(base + ['--out', 'straight'], tmp_path)
    reference = time.time() - t0
    assert rc == 0, out
    progress = lambda: len(list((tmp_path / 'killed').glob('[!.]*.json')))   # annotations written (+ the summary)
    report, hit = _kill_and_resume('annotate-folder', lambda: base + ['--out', 'killed'], tmp_path, reference, progress,
                                   finished=lambda: (tmp_path / 'killed' / 'summary.json').exists(), jitter=0.4)
    a, b = _snapshot(tmp_path / 'straight'), _snapshot(tmp_path / 'killed')
    assert sorted(a) == sorted(b), (report, sorted(set(a) ^ set(b)))
    assert [k for k in a if a[k][1] != b[k][1]] == [], report   # every annotation and the summary, byte for byte
    summary = json.loads((tmp_path / 'killed' / 'summary.json').read_text())
    assert (summary['pairs'], summary['annotated'], summary['failed']) == (10, 8, 2), summary
    assert sorted(summary['errors']) == ['odd', 'single'], summary['errors']
    assert _hidden(tmp_path / 'killed') == [], report
    # finished: the same command changes nothing; another rule would replace results, so it needs --force
    before = _snapshot(tmp_path / 'killed')
    assert _finish(base + ['--out', 'killed'], tmp_path)[0] == 0 and _snapshot(tmp_path / 'killed') == before
    rc, out = _finish(base + ['--out', 'killed', '--rule', 'otsu'], tmp_path)
    assert rc == 1 and '--force' in out and _snapshot(tmp_path / 'killed') == before
