"""Training (issue 5): the loop learns, logs, checkpoints atomically without pickle, and resumes bit for bit."""
import json
from pathlib import Path
import pytest

torch = pytest.importorskip('torch')
from fifa_nb.core import FifaError, OutputExistsError
from fifa_nb.tasks import TASKS
from fifa_nb.model import example_samples
from fifa_nb.train import TrainConfig, TaskMixer, train, checkpoints, read_log, lr_factor


@pytest.fixture(scope='module')
def samples():
    return example_samples(n_fakes=3, size=128)


def _weights(m): return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize('grad_accum, kill_at', [(1, 3), (2, 5)])
def test_resume_is_bit_for_bit(samples, tmp_path, grad_accum, kill_at):
    cfg = TrainConfig(preset='tiny', steps=8, batch_size=3, grad_accum=grad_accum, lr=3e-3, warmup=2, save_every=100,
                      log_every=2, seed=3)
    straight = _weights(train(samples, tmp_path / 'a', cfg, progress=False))
    m = train(samples, tmp_path / 'b', cfg, progress=False, stop_at=kill_at)
    assert m.train_state['stopped'] == 'stop_at' and m.train_state['step'] == kill_at
    assert not (tmp_path / 'b' / 'model').exists()   # an interrupted run has no final model yet
    (tmp_path / 'b' / 'checkpoints' / '.step-0000099.half-written').mkdir()   # debris of a crash while saving
    resumed = _weights(train(samples, tmp_path / 'b', cfg, resume=True, progress=False))
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    # the resumed log continues the first one
    steps = [r['step'] for r in read_log(tmp_path / 'b')]
    assert steps == sorted(steps) and steps[-1] == 8


def test_training_logs_every_loss_and_each_task(samples, tmp_path):
    cfg = TrainConfig(preset='tiny', steps=40, batch_size=8, lr=3e-3, warmup=4, save_every=20, log_every=5, keep_checkpoints=1)
    seen = []
    train(samples, tmp_path / 'run', cfg, progress=False, callbacks=[lambda r, h: seen.append(r['step'])])
    log = read_log(tmp_path / 'run')
    assert [r['step'] for r in log] == list(range(5, 41, 5)) == seen
    for k in ('loss', 'ce', 'bce', 'dice', 'det', 'family', 'pix', 'lr', 'samples_per_s', 'task_ce'):
        assert k in log[0], k
    assert set(log[0]['task_ce']) <= set(TASKS) and len({t for r in log for t in r['task_ce']}) >= 8
    assert log[-1]['loss'] < 0.7 * log[0]['loss']
    assert [p.name for p in checkpoints(tmp_path / 'run')] == ['step-0000040']   # keep_checkpoints=1
    files = [p for p in (tmp_path / 'run').rglob('*') if p.is_file()]
    assert not [p for p in files if p.suffix in ('.bin', '.pt', '.pth', '.pkl', '.ckpt')], files   # no pickle anywhere
    assert (tmp_path / 'run' / 'model' / 'model.safetensors').exists()


def test_refusals_and_validation(samples, tmp_path):
    cfg = TrainConfig(preset='tiny', steps=2, batch_size=2, log_every=1)
    with pytest.raises(FifaError, match='Nothing to resume'): train(samples, tmp_path / 'r', cfg, resume=True, progress=False)
    train(samples, tmp_path / 'r', cfg, progress=False)
    with pytest.raises(OutputExistsError): train(samples, tmp_path / 'r', cfg, progress=False)
    with pytest.raises(FifaError, match='other settings'):
        train(samples, tmp_path / 'r', TrainConfig(preset='tiny', steps=4, batch_size=4), resume=True, progress=False)
    for bad in (dict(steps=0), dict(schedule='step'), dict(mixed_precision='fp8'), dict(task_weights={'nope': 1.0}),
                dict(task_weights={t: 0.0 for t in TASKS}), dict(lr=0)):
        with pytest.raises(FifaError): TrainConfig(**bad)


def test_max_minutes_stops_with_a_checkpoint(samples, tmp_path):
    m = train(samples, tmp_path / 'r', TrainConfig(preset='tiny', steps=50, batch_size=2, max_minutes=0), progress=False)
    assert m.train_state['stopped'] == 'max_minutes' and checkpoints(tmp_path / 'r')


def test_mixer_and_schedule(samples):
    mix = TaskMixer(samples, {'age': 1.0, 'det': 3.0}, seed=0)
    tasks = [s.task for k in range(50) for s in mix.batch(k, 8)]
    assert set(tasks) == {'age', 'det'} and 0.65 < tasks.count('det') / len(tasks) < 0.85
    c = TrainConfig(steps=100, warmup=10)
    assert lr_factor(0, c) == pytest.approx(0.1) and lr_factor(9, c) == 1.0 and lr_factor(100, c) == pytest.approx(0.0)


def test_variants_lisa_and_no_aux(samples, tmp_path):
    from fifa_nb.train import lisa_style, VARIANTS
    age = next(s for s in samples if s.task == 'age' and len(s.masks) >= 2)
    l = lisa_style(age).check()
    assert l.answer.count('[SEG]') == 1 and '<p>' not in l.answer and len(l.masks) == 1
    assert l.masks[0].sum() == sum(m for m in age.masks).astype(bool).sum()
    det = next(s for s in samples if s.task == 'det')
    assert lisa_style(det) is det
    m = train(samples, tmp_path / 'lisa', TrainConfig(preset='tiny', steps=3, batch_size=4, variant='lisa', log_every=1), progress=False)
    assert m.train_state['step'] == 3
    seen = []
    mix_model = train(samples, tmp_path / 'noaux', TrainConfig(preset='tiny', steps=4, batch_size=6, variant='no_aux', log_every=1),
                      progress=False, callbacks=[lambda r, h: seen.extend(r['task_ce'])])
    assert mix_model.config.loss_weights['det'] == mix_model.config.loss_weights['pix'] == 0.0
    assert seen and 'concept_seg' not in seen
    with pytest.raises(FifaError, match='Unknown variant'): TrainConfig(variant='glamm')
    assert set(VARIANTS) == {'fifa', 'lisa', 'no_aux', 'coarse'}


def test_coarse_variant(samples, tmp_path):
    import numpy as np
    from fifa_nb.train import coarse_style
    from fifa_nb.annotator import age_phrases
    from fifa_nb.concepts import FICT
    grounded = [s for s in samples if '<p>' in s.answer and s.task != 'concept_seg']
    changed = 0
    for s in grounded:
        c = coarse_style(s).check()
        names = [k for _, k in age_phrases(c.answer)]
        assert all(k is None or FICT.in_cut(k) in (k, None) for k in names), c.answer   # only coarse names (or ones above the cut)
        assert len(c.masks) == len(s.masks)
        if s.masks: assert np.array_equal(np.logical_or.reduce(c.masks), np.logical_or.reduce(s.masks))   # the same pixels
        changed += c is not s
    assert changed, 'the example answers name fine concepts, so some must change'
    concept = next(s for s in samples if s.task == 'concept_seg')
    assert coarse_style(concept) is concept
    m = train(samples, tmp_path / 'coarse', TrainConfig(preset='tiny', steps=2, batch_size=4, variant='coarse', log_every=1), progress=False)
    assert m.train_state['step'] == 2


@pytest.mark.parametrize('gpu, native_bf16, want', [(False, False, 'no'), ('T4', False, 'fp16'), ('A100', True, 'bf16')])
def test_auto_precision_follows_the_gpu(monkeypatch, gpu, native_bf16, want):
    "'auto' asks whether the GPU computes in bf16 itself: a T4 only emulates it (slowly), so it gets fp16."
    from fifa_nb import train as tr
    asked = []
    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return native_bf16 or including_emulation   # what torch answers: every recent CUDA GPU can emulate bf16
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: bool(gpu))
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', is_bf16_supported)
    assert tr._mixed_precision('auto') == want
    assert all(e is False for e in asked)
    assert tr._mixed_precision('no') == 'no' and tr._mixed_precision('fp16') == 'fp16'   # an explicit choice is kept


def test_interrupt_says_how_to_resume_on_stderr(samples, tmp_path, capsys):
    def ctrl_c(record, history): raise KeyboardInterrupt   # as if the user pressed Ctrl-C after the first log record
    cfg = TrainConfig(preset='tiny', steps=6, batch_size=3, warmup=1, save_every=100, log_every=2)
    m = train(samples, tmp_path / 'run', cfg, progress=False, callbacks=[ctrl_c])
    out, err = capsys.readouterr()
    assert m.train_state['stopped'] == 'interrupted' and m.train_state['step'] == 2
    assert 'Stopped at step 2; run again with resume=True' in err and 'Stopped' not in out
    assert checkpoints(tmp_path / 'run')   # what it says can be done


def test_model_card_states_the_training_data(samples, tmp_path):
    "A run on a FiFa-11 build's Arrow files writes that build's provenance into the model card; a list of samples: unknown."
    datasets = pytest.importorskip('datasets')
    from fifa_nb.model import dataset_provenance
    from fifa_nb.train import data_provenance
    cfg = TrainConfig(preset='tiny', steps=2, batch_size=2, warmup=1, save_every=100, log_every=1)
    train(samples, tmp_path / 'plain', cfg, progress=False)
    card = (tmp_path / 'plain' / 'model' / 'README.md').read_text()
    assert 'Unknown: no provenance was given' in card and '"steps": 2' in card   # the recipe is stated, the data is not invented
    # a FiFa-11 build in miniature: a manifest and one split's Arrow files under arrow/train (the layout of build_dataset)
    build = tmp_path / 'build'
    rows = [s.to_dict() for s in samples]
    build.mkdir()
    (build / 'fifa11.json').write_text(json.dumps(dict(format='fifa11', config=dict(n=3, seed=0, licence='CC0'),
        identities={'a': dict(split='train', base='p1', source='sample')}, splits=dict(train=dict(items=1, samples=len(rows))))))
    from fifa_nb.dataset import sample_features
    datasets.Dataset.from_list(rows, features=sample_features()).save_to_disk(str(build / 'arrow' / 'train'))
    ds = datasets.load_from_disk(str(build / 'arrow' / 'train'))
    prov = data_provenance(ds)
    assert prov == dict(dataset_provenance(build), rows_trained_on=len(samples))
    assert prov['splits']['train'] == dict(images=1, samples=len(rows), people=1) and prov['licence'] == 'CC0'
    assert data_provenance(samples) is None and data_provenance(TaskMixer(ds)) == prov
    train(ds, tmp_path / 'built', cfg, progress=False)
    card = (tmp_path / 'built' / 'model' / 'README.md').read_text()
    assert prov['manifest_sha256'] in card and '"rows_trained_on"' in card and 'Unknown' not in card
