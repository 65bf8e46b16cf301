"""Untrusted checkpoints (issue 7): safetensors only, every file checked against manifest.json, config.json and the
training-state JSONs checked against explicit schemas, weights checked against the config before any memory is spent."""
import hashlib, json, os, re, shutil, warnings
from pathlib import Path
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('safetensors')
from fifa_nb.core import FifaError
from fifa_nb.model import (FiFaMLLM, CheckpointError, ManifestWarning, MANIFEST, CONFIG_SCHEMA, check_json, json_spec, write_manifest,
                           verify_manifest, manifest_files, shipped_checkpoint, preset_config, PRESETS, FiFaConfig)


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    "A tiny FiFa-MLLM checkpoint, saved once; each test works on a copy."
    folder = tmp_path_factory.mktemp('ckpt') / 'tiny'
    FiFaMLLM.from_preset('tiny', seed=1).save_pretrained(folder)
    return folder


@pytest.fixture
def ckpt(saved, tmp_path):
    return Path(shutil.copytree(saved, tmp_path / 'tiny'))


def _load(folder):
    with warnings.catch_warnings():
        warnings.simplefilter('error', ManifestWarning)   # a checkpoint with a manifest loads without any warning
        return FiFaMLLM.from_pretrained(folder)


def _edit_config(folder, change, manifest=True):
    d = json.loads((folder / 'config.json').read_text())
    change(d)
    (folder / 'config.json').write_text(json.dumps(d, indent=1))
    if manifest: write_manifest(folder)   # as a careful attacker would: only the schema and the fit check stand in the way


def test_save_writes_a_manifest_and_loads_identically(saved):
    m = json.loads((saved / MANIFEST).read_text())
    assert m['format'] == 'fifa_nb.manifest/1'
    assert sorted(m['files']) == sorted(p.name for p in saved.iterdir() if p.name != MANIFEST)
    for name, e in m['files'].items():
        assert e['size'] == (saved / name).stat().st_size and e['sha256'] == hashlib.sha256((saved / name).read_bytes()).hexdigest()
    a, b = FiFaMLLM.from_preset('tiny', seed=1), _load(saved)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not [p for p in saved.parent.iterdir() if p.name.startswith('.')]   # no temporary folder left beside it
    assert oct(saved.stat().st_mode & 0o777) != oct(0o700)   # readable like any folder the user makes, not private like mkdtemp's


def _truncate(f): os.truncate(f, f.stat().st_size - 100)
def _flip(f):
    b = bytearray(f.read_bytes()); b[len(b) // 2] ^= 0x01; f.write_bytes(bytes(b))


@pytest.mark.parametrize('damage, says', [
    (lambda d: _truncate(d / 'model.safetensors'), r'model\.safetensors is \S+ bytes but manifest\.json says \S+: it was cut short'),
    (lambda d: _flip(d / 'model.safetensors'), r'model\.safetensors does not match its sha256 in manifest\.json'),
    (lambda d: _flip(d / 'tokenizer.json'), r'tokenizer\.json does not match its sha256'),
    (lambda d: (d / 'tokenizer.json').unlink(), r'tokenizer\.json is missing \(manifest\.json lists it'),
    (lambda d: (d / 'config.json').write_text((d / 'config.json').read_text().replace('"mask_size": 64', '"mask_size": 32')),
     r'config\.json does not match its sha256'),
    (lambda d: (d / 'notes.txt').write_text('hi'), r'holds file\(s\) its manifest\.json does not list: notes\.txt'),
    (lambda d: (d / MANIFEST).write_text('{"format": "fifa_nb.manifest/1", "files": {'), r"manifest\.json' is not valid JSON"),
    (lambda d: (d / MANIFEST).write_text(json.dumps({'format': 'fifa_nb.manifest/1', 'files': {'../x': {'size': 1, 'sha256': '0' * 64}}})),
     r"files\.\.\./x is not allowed here"),
])
def test_a_damaged_checkpoint_is_refused_with_the_file_named(ckpt, damage, says):
    damage(ckpt)
    with pytest.raises(CheckpointError, match=says) as e: FiFaMLLM.from_pretrained(ckpt)
    if 'manifest.json says' in says or 'sha256' in says or 'missing' in says: assert 'again' in str(e.value)   # what to do


def test_a_swapped_weights_file_is_refused(ckpt, tmp_path):
    "Weights of another model of the same architecture: same size, same names, different bytes."
    FiFaMLLM.from_preset('tiny', seed=2).save_pretrained(tmp_path / 'other')
    shutil.copy(tmp_path / 'other' / 'model.safetensors', ckpt / 'model.safetensors')
    assert (ckpt / 'model.safetensors').stat().st_size == (tmp_path / 'other' / 'model.safetensors').stat().st_size
    with pytest.raises(CheckpointError, match='model.safetensors does not match its sha256'): FiFaMLLM.from_pretrained(ckpt)


@pytest.mark.parametrize('name', ['pytorch_model.bin', 'model.pt', 'weights.pth', 'state.pkl', 'x.pickle', 'last.ckpt'])
def test_pickles_are_refused_even_beside_safetensors(ckpt, name):
    torch.save({'w': torch.zeros(1)}, ckpt / name)   # a real pickle: never opened
    write_manifest(ckpt)
    with pytest.raises(CheckpointError, match=f'holds pickled files \\({re.escape(name)}\\).*refuses'): FiFaMLLM.from_pretrained(ckpt)
    (ckpt / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='pickled'): FiFaMLLM.from_pretrained(ckpt)


def test_a_checkpoint_without_manifest_loads_with_a_warning(ckpt):
    (ckpt / MANIFEST).unlink()
    with pytest.warns(ManifestWarning, match='has no manifest.json'): model = FiFaMLLM.from_pretrained(ckpt)
    assert model.config.preset == 'tiny'
    _truncate(ckpt / 'model.safetensors')   # without a manifest, a cut file is still caught, by the safetensors header
    with pytest.warns(ManifestWarning), pytest.raises(CheckpointError, match='not a readable safetensors file'):
        FiFaMLLM.from_pretrained(ckpt)


@pytest.mark.parametrize('change, says', [
    (lambda d: d['llm'].update(hidden_size=10 ** 9), 'llm.hidden_size must be a whole number from 1 to 16384, got 1000000000'),
    (lambda d: d['vision'].update(patch_size='16'), "vision.patch_size must be a whole number from 1 to 64, got '16'"),
    (lambda d: d.update(mask_size=True), 'mask_size must be a whole number'),
    (lambda d: d.update(roi_size=4.5), 'roi_size must be a whole number'),
    (lambda d: d['loss_weights'].update(ce=-1.0), 'loss_weights.ce must be a number from 0 to 1000000.0'),
    (lambda d: d['loss_weights'].update(evil=1.0), 'loss_weights.evil is not allowed here'),
    (lambda d: d.update(lora=dict(r=8, alpha=16, targets=['q_proj; rm -rf /'])), r"lora.targets\[0\] must be a string"),
    (lambda d: d['llm'].update(model_type='Evil/../x'), 'llm.model_type must be a string matching'),
    (lambda d: d['llm'].update(auto_map={'AutoModel': 'evil.Model'}), 'unknown field llm.auto_map'),
    (lambda d: d.update(trust_remote_code=True), 'unknown field trust_remote_code'),
    (lambda d: d.pop('llm'), r"lacks the field\(s\) 'llm'"),
    (lambda d: d.update(max_length=float('nan')), 'max_length must be a whole number'),
    (lambda d: d.update(format='fifa_nb.MaskBaseline/1'), 'is not a fifa_nb checkpoint'),
])
def test_config_json_is_checked_against_its_schema(ckpt, change, says):
    _edit_config(ckpt, change)
    with pytest.raises(CheckpointError, match=says) as e: FiFaMLLM.from_pretrained(ckpt)
    assert str(ckpt / 'config.json') in str(e.value) or 'format' in says


@pytest.mark.parametrize('change, says', [
    (lambda d: d['llm'].update(hidden_act='evil'), "llm.hidden_act 'evil' is not an activation transformers knows"),
    (lambda d: d['vision'].update(hidden_act='evil'), "vision.hidden_act 'evil' is not an activation"),
    (lambda d: d['llm'].update(num_attention_heads=3), r'llm.num_attention_heads \(3\) must divide hidden_size \(64\)'),
    (lambda d: d['vision'].update(num_attention_heads=3), r'vision.num_attention_heads \(3\) must divide hidden_size'),
    (lambda d: d['llm'].update(num_key_value_heads=3), r'llm.num_key_value_heads \(3\) must divide num_attention_heads'),
    (lambda d: d['llm'].update(rope_parameters={'rope_type': 'evil', 'rope_theta': 1e4}), "rope_type 'evil' is not a rotary type"),
    (lambda d: d['llm'].update(rope_parameters={'rope_type': 'default', 'rope_theta': 0.0}), r'rope_parameters.rope_theta must be in \[1'),
    (lambda d: d['llm'].update(rope_theta=0), 'llm.rope_theta must be a number from 1 to'),
    (lambda d: d['llm'].update(rms_norm_eps=0), 'llm.rms_norm_eps must be a number from 1e-12'),
    (lambda d: d['seg'].update(heads=3), 'describes a model that cannot be built or run .SegHeadError'),
    (lambda d: d['vision'].update(patch_size=7), 'cannot be built or run .FifaError: image_size 64 is not a multiple of patch_size 7'),
    (lambda d: d.update(max_new_tokens=10 ** 6), 'max_new_tokens must be a whole number from 1 to 4096'),
])
def test_a_config_the_model_cannot_build_is_one_message(ckpt, change, says):
    "Within the schema field by field, but not a model the classes can build or run: checked together, on the meta device."
    _edit_config(ckpt, change)
    with pytest.raises(CheckpointError, match=says) as e: FiFaMLLM.from_pretrained(ckpt)
    assert str(ckpt / 'config.json') in str(e.value) and '\n' not in str(e.value)


def test_a_config_that_does_not_fit_its_weights_is_refused_before_building(ckpt):
    "Within the schema's bounds, but not the model the weights belong to: caught on the meta device, no memory spent."
    _edit_config(ckpt, lambda d: d['llm'].update(num_hidden_layers=3))
    with pytest.raises(CheckpointError, match=r'model\.safetensors does not fit its config\.json: missing llm\.model\.layers\.2'):
        FiFaMLLM.from_pretrained(ckpt)
    _edit_config(ckpt, lambda d: d['llm'].update(num_hidden_layers=2, hidden_size=8192, intermediate_size=32768, num_attention_heads=64))
    import resource, time
    t0, rss0 = time.time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match='wrong shape'): FiFaMLLM.from_pretrained(ckpt)   # a 1.5 GB model if it were built
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 300_000 and time.time() - t0 < 30   # KB: nothing allocated


def test_tokenizer_files_may_not_name_code(ckpt):
    d = json.loads((ckpt / 'tokenizer_config.json').read_text())
    (ckpt / 'tokenizer_config.json').write_text(json.dumps(dict(d, auto_map={'AutoTokenizer': ['evil.Tok', None]})))
    write_manifest(ckpt)
    with pytest.raises(CheckpointError, match='auto_map'): FiFaMLLM.from_pretrained(ckpt)


def test_every_preset_fits_the_schema_and_the_schema_every_field():
    assert set(CONFIG_SCHEMA['fields']) == set(FiFaConfig.__dataclass_fields__)
    for name in PRESETS: check_json(preset_config(name).to_dict(), CONFIG_SCHEMA, name)


def test_check_json_messages_and_unknown_fields():
    spec = json_spec('dict', fields=dict(a=json_spec('int', 0, 3)), unknown='warn')
    with pytest.warns(UserWarning, match='unknown field b ignored'): assert check_json({'a': 1, 'b': 2}, spec, 'f.json') == {'a': 1}
    with pytest.raises(CheckpointError, match='f.json: a must be a whole number from 0 to 3, got 7'): check_json({'a': 7}, spec, 'f.json')
    deep = json_spec('list', values=json_spec('any'))
    assert check_json([[1]], deep) == [[1]]


def test_json_files_of_a_checkpoint_are_read_with_care(ckpt, tmp_path):
    "config.json too big, too deep, not UTF-8, missing: a CheckpointError naming it, never a traceback."
    for content, says in [(b' ' * (2 ** 20 + 1), 'more than max_bytes'), (b'[' * 100_000 + b']' * 100_000, 'too deeply|not valid JSON'),
                          (b'{"a": "\xe9"}', 'not UTF-8'), (b'{"vision": ', 'not valid JSON.*cut short')]:
        (ckpt / 'config.json').write_bytes(content); write_manifest(ckpt)
        with pytest.raises(CheckpointError, match=says): FiFaMLLM.from_pretrained(ckpt)
    (ckpt / 'config.json').unlink(); write_manifest(ckpt)
    with pytest.raises(CheckpointError, match='config.json.*does not exist'): FiFaMLLM.from_pretrained(ckpt)


def test_the_shipped_checkpoint_has_a_manifest_that_matches_its_card():
    "The manifest was computed from the shipped files (the weights never changed): card, manifest and bytes agree."
    folder = shipped_checkpoint('small')
    m = verify_manifest(folder)
    assert m is not None and sorted(m['files']) == manifest_files(folder)
    card = re.search(r'sha256 `([0-9a-f]{64})`', (folder / 'README.md').read_text()).group(1)
    assert m['files']['model.safetensors']['sha256'] == card == hashlib.sha256((folder / 'model.safetensors').read_bytes()).hexdigest()
    assert _load('small').config.preset == 'small'


# ------------------------------------------------------------------ the no-LLM baseline

def test_mask_baseline_checkpoints_get_the_same_checks(tmp_path):
    from fifa_nb.baselines import MaskBaseline, SegNetConfig
    b = MaskBaseline(SegNetConfig(widths=(4, 8, 16)))
    b.save_pretrained(tmp_path / 'b')
    assert (tmp_path / 'b' / MANIFEST).exists()
    MaskBaseline.from_pretrained(tmp_path / 'b')
    c = json.loads((tmp_path / 'b' / 'config.json').read_text())
    (tmp_path / 'b' / 'config.json').write_text(json.dumps(dict(c, train=dict(c['train'] or {}, note='hello'))))
    write_manifest(tmp_path / 'b')
    with pytest.warns(UserWarning, match='unknown field train.note ignored'): MaskBaseline.from_pretrained(tmp_path / 'b')   # information only
    (tmp_path / 'b' / 'config.json').write_text(json.dumps(dict(c, widths=[4, 8, 10 ** 6])))
    write_manifest(tmp_path / 'b')
    with pytest.raises(CheckpointError, match=r'widths\[2\] must be a whole number from 1 to 4096'): MaskBaseline.from_pretrained(tmp_path / 'b')
    (tmp_path / 'b' / 'config.json').write_text(json.dumps(dict(c, widths=[4, 8, 32])))   # in bounds, but not these weights
    write_manifest(tmp_path / 'b')
    with pytest.raises(CheckpointError, match='wrong shape'): MaskBaseline.from_pretrained(tmp_path / 'b')
    (tmp_path / 'b' / 'config.json').write_text(json.dumps(c)); write_manifest(tmp_path / 'b')
    _truncate(tmp_path / 'b' / 'model.safetensors')
    with pytest.raises(CheckpointError, match='cut short'): MaskBaseline.from_pretrained(tmp_path / 'b')


# ------------------------------------------------------------------ training checkpoints

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    from fifa_nb.model import example_samples
    from fifa_nb.train import TrainConfig, train
    out = tmp_path_factory.mktemp('train') / 'run'
    cfg = TrainConfig(preset='tiny', steps=4, batch_size=2, save_every=2, log_every=1, warmup=1)
    train(example_samples(n_fakes=2, size=128), out, cfg, progress=False, stop_at=4)
    return out, cfg


def _resume(folder, cfg):
    from fifa_nb.model import example_samples
    from fifa_nb.train import train
    return train(example_samples(n_fakes=2, size=128), folder, cfg, resume=True, progress=False)


def test_training_checkpoints_have_chained_manifests(run):
    from fifa_nb.train import checkpoints, load_trainer_state
    out, cfg = run
    ck = checkpoints(out)[-1]
    m = verify_manifest(ck)
    assert 'model/manifest.json' in m['files'] and 'model/model.safetensors' not in m['files']   # the model folder has its own
    verify_manifest(ck / 'model')
    assert load_trainer_state(ck)['step'] == 4


@pytest.mark.parametrize('damage, says', [
    (lambda ck: _flip(ck / 'optimizer.safetensors'), 'optimizer.safetensors does not match its sha256'),
    (lambda ck: _flip(ck / 'model' / 'model.safetensors'), 'model.safetensors does not match its sha256'),
    (lambda ck: _rewrite(ck, 'trainer_state.json', lambda s: s.update(step=-3)), 'step must be a whole number from 0'),
    (lambda ck: _rewrite(ck, 'trainer_state.json', lambda s: s['scheduler'].update(lr_lambdas=[{'__class__': 'os.system'}])),
     r'scheduler.lr_lambdas\[0\] must be null'),
    (lambda ck: _rewrite(ck, 'trainer_state.json', lambda s: s['config'].update(lr='0.1')), 'config.lr must be a number'),
    (lambda ck: _rewrite(ck, 'optimizer.json', lambda s: s['param_groups'][0].update(betas=[0.9])), r'param_groups\[0\].betas must be a list exactly 2 long'),
    (lambda ck: _rewrite(ck, 'optimizer.json', lambda s: s['param_groups'][0].update(hook={'x': 1})), r'param_groups\[0\].hook must be'),
    (lambda ck: _rewrite(ck, 'optimizer.json', lambda s: s['param_groups'][0].update(foreach='yes')), r'param_groups\[0\].foreach must be true or false'),
    (lambda ck: _rewrite(ck, 'optimizer.json', lambda s: s['param_groups'][0].update(params=[0, 1])), 'the optimizer state does not fit the model'),
    (lambda ck: _rewrite(ck, 'trainer_state.json', lambda s: s['scheduler'].update(optimizer=1)), 'scheduler.optimizer is not allowed here'),
    (lambda ck: (ck / 'rng.safetensors').write_bytes(b'junk') and write_manifest(ck), 'rng.safetensors holds no usable random state'),
    (lambda ck: _rename_tensor(ck / 'optimizer.safetensors', 'evil'), r"optimizer.safetensors holds a tensor named 'evil', not <index>.<name>"),
    (lambda ck: _rename_tensor(ck / 'optimizer.safetensors', 'x.exp_avg'), r"holds a tensor named 'x.exp_avg'"),
])
def test_a_damaged_training_checkpoint_is_refused_on_resume(run, tmp_path, damage, says):
    from fifa_nb.train import checkpoints
    out = Path(shutil.copytree(run[0], tmp_path / 'run'))
    ck = checkpoints(out)[-1]
    damage(ck)
    with pytest.raises(CheckpointError, match=says) as e: _resume(out, run[1])
    assert f'delete {ck}' in str(e.value) and 'step-0000002' in str(e.value)   # what to do: fall back to the one before


def _rename_tensor(path, new):
    "The same safetensors file with its first tensor renamed (and the manifest rewritten, as a careful attacker would)."
    from safetensors.torch import load_file, save_file
    t = load_file(str(path)); first = sorted(t)[0]; t[new] = t.pop(first)
    save_file(t, str(path)); write_manifest(path.parent)


def _rewrite(ck, name, change):
    d = json.loads((ck / name).read_text()); change(d); (ck / name).write_text(json.dumps(d)); write_manifest(ck)


def test_a_bad_train_config_json_is_refused(run, tmp_path):
    from fifa_nb.train import read_train_config
    out = Path(shutil.copytree(run[0], tmp_path / 'run'))
    d = json.loads((out / 'train_config.json').read_text())
    (out / 'train_config.json').write_text(json.dumps(dict(d, variant='../../evil')))
    with pytest.raises(CheckpointError, match="variant must be a string, one of 'fifa'"): read_train_config(out)
    (out / 'train_config.json').write_text(json.dumps(dict(d, model={'llm': {'model_type': 'llama', 'hidden_size': 10 ** 7}})))
    with pytest.raises(CheckpointError, match='model.llm'): read_train_config(out)


# ------------------------------------------------------------------ trained-only checkpoints of pretrained-style models (issue 18)

def _pretrained_style(folder, resize=False, seed=0):
    "A tiny model built on pretrained-style bases (stand-ins saved to folders, loaded by name), its trainable tensors moved."
    from fifa_nb.model import save_tiny_bases
    clip, llm = save_tiny_bases(folder, resize=resize)
    model = FiFaMLLM.from_preset('tiny', pretrained=True, vision_pretrained=str(clip), llm_pretrained=str(llm), freeze_vision=True,
                                 lora=dict(r=4, alpha=8, dropout=0.0, targets=['q_proj', 'v_proj']), seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():   # stands in for training (LoRA's B starts at zero: the round trip must carry real values)
        for p in model.parameters():
            if p.requires_grad: p.add_(0.01 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope='module')
def pretrained_style(tmp_path_factory):
    root = tmp_path_factory.mktemp('pre')
    model = _pretrained_style(root / 'bases')
    return model, root, model.save_pretrained(root / 'trained'), model.save_pretrained(root / 'full', full_weights=True)


def _batch(model):
    from fifa_nb.model import example_samples
    return model.collate(example_samples(n_fakes=1, size=64)[:3])


def _same_outputs(a, b):
    batch = _batch(a)
    with torch.no_grad(): o1, o2 = a.eval()(**batch), b.eval()(**batch)
    return torch.equal(o1['logits'], o2['logits']) and all(torch.equal(x, y) for x, y in zip(o1['mask_logits'], o2['mask_logits']))


def test_a_pretrained_style_checkpoint_stores_only_what_was_trained(pretrained_style):
    from peft import get_peft_model_state_dict
    from fifa_nb.model import safetensors_shapes, safetensors_metadata
    model, root, trained, full = pretrained_style
    stored = safetensors_shapes(trained / 'model.safetensors')
    assert not any(k.startswith('vision.') for k in stored)            # the frozen encoder is loaded by name
    llm = [k for k in stored if k.startswith('llm.')]
    assert llm and all('lora_' in k or 'trainable_tokens_' in k for k in llm)
    assert len(llm) == len(get_peft_model_state_dict(model.llm))       # the same tensors peft itself would save as the adapter
    own = {k for k, v in model.state_dict().items() if not k.startswith(('vision.', 'llm.'))}
    assert own <= set(stored)                                           # projector, heads, mask decoder (frozen buffers included)
    assert (trained / 'model.safetensors').stat().st_size < 0.5 * (full / 'model.safetensors').stat().st_size
    meta = safetensors_metadata(trained / 'model.safetensors')
    assert meta['fifa_nb.weights'] == 'trained' and json.loads(meta['fifa_nb.bases'])['llm']['name'] == str(root / 'bases' / 'llm')
    assert 'fifa_nb.weights' not in safetensors_metadata(full / 'model.safetensors')
    assert {'README.md', 'manifest.json'} <= {p.name for p in trained.iterdir()}


def test_trained_only_and_full_checkpoints_load_identically(pretrained_style):
    model, root, trained, full = pretrained_style
    again = _load(trained)
    assert again.pretrained_bases['llm']['fingerprint'] == model.pretrained_bases['llm']['fingerprint']
    assert _same_outputs(model, again) and _same_outputs(model, _load(full))
    from safetensors.torch import load_file
    from fifa_nb.model import safetensors_metadata
    resaved = again.save_pretrained(root / 'resaved')   # a loaded trained-only model saves trained-only again, the same tensors
    t1, t2 = (load_file(str(f / 'model.safetensors')) for f in (trained, resaved))
    assert t1.keys() == t2.keys() and all(torch.equal(t1[k], t2[k]) for k in t1)
    assert safetensors_metadata(trained / 'model.safetensors') == safetensors_metadata(resaved / 'model.safetensors')


def test_a_changed_or_missing_base_is_refused_and_a_full_checkpoint_needs_none(pretrained_style, tmp_path):
    from fifa_nb.model import save_tiny_bases
    model, root, trained, full = pretrained_style
    ck = Path(shutil.copytree(trained, tmp_path / 'trained'))
    base = root / 'bases' / 'llm'
    shutil.move(str(base), str(tmp_path / 'kept'))
    try:
        with pytest.raises(CheckpointError, match='holds only what was trained; its base models must be loaded by name'):
            FiFaMLLM.from_pretrained(ck, download=False)
        assert _same_outputs(model, _load(full))   # self-contained
        save_tiny_bases(tmp_path / 'other', seed=3); shutil.move(str(tmp_path / 'other' / 'llm'), str(base))
        with pytest.raises(CheckpointError, match='loads with other weights than the ones this checkpoint was trained on'):
            FiFaMLLM.from_pretrained(ck)
    finally:
        if base.exists(): shutil.rmtree(base)
        shutil.move(str(tmp_path / 'kept'), str(base))


def test_added_vocabulary_rows_are_stored(tmp_path):
    "A base LLM whose tokenizer lacks our tokens grows its embeddings; the grown rows (pad: random init) are stored, so loading is exact."
    from fifa_nb.model import safetensors_shapes, ADDED_ROWS
    model = _pretrained_style(tmp_path / 'bases', resize=True)
    rows = model.pretrained_bases['llm']['rows']
    assert len(model.tokenizer) > rows
    shapes = safetensors_shapes(model.save_pretrained(tmp_path / 'ck') / 'model.safetensors')
    added = {k: v for k, v in shapes.items() if k.endswith(ADDED_ROWS)}
    assert added and all(v[0] == len(model.tokenizer) - rows for v in added.values())
    assert _same_outputs(model, _load(tmp_path / 'ck'))


def test_trained_only_headers_and_shapes_are_checked(pretrained_style, tmp_path):
    from safetensors.torch import load_file, save_file
    from fifa_nb.model import safetensors_metadata
    model, root, trained, full = pretrained_style
    ck = Path(shutil.copytree(trained, tmp_path / 'trained'))
    w = ck / 'model.safetensors'
    tensors, meta = load_file(str(w)), safetensors_metadata(w)
    def rewrite(t, m):
        save_file(t, str(w), metadata=m); write_manifest(ck)
    rewrite(tensors, dict(meta, **{'fifa_nb.bases': json.dumps({'llm': {'name': 'evil/model', 'fingerprint': '0' * 32}})}))
    with pytest.raises(CheckpointError, match="trained on the llm base 'evil/model' but config.json names"): FiFaMLLM.from_pretrained(ck)
    rewrite(tensors, dict(meta, **{'fifa_nb.bases': '{"llm": {"name": 3, "fingerprint": "' + '0' * 32 + '"}}'}))
    with pytest.raises(CheckpointError, match='llm.name must be a string'): FiFaMLLM.from_pretrained(ck)
    rewrite({k: v for k, v in tensors.items() if 'lora_A' not in k}, meta)
    with pytest.raises(CheckpointError, match='does not fit its config.json: missing .*lora_A'): FiFaMLLM.from_pretrained(ck)
    rewrite(dict(tensors, **{'llm.extra': torch.zeros(2)}), meta)
    with pytest.raises(CheckpointError, match='unexpected llm.extra'): FiFaMLLM.from_pretrained(ck)


def test_a_random_init_colab_model_or_a_trained_from_scratch_one_keeps_full_weights():
    from fifa_nb.model import left_out_bases
    assert left_out_bases(FiFaMLLM.from_preset('tiny')) == {}
    assert left_out_bases(FiFaMLLM.from_preset('colab', device='meta')) == {}   # its bases are random here, not the named ones


def test_a_model_card_that_was_edited_only_warns(ckpt):
    (ckpt / 'README.md').write_text('# edited on the Hub\n')
    with pytest.warns(ManifestWarning, match='README.md changed since'): FiFaMLLM.from_pretrained(ckpt)
    (ckpt / 'README.md').unlink()
    with pytest.warns(ManifestWarning, match='README.md is missing'): FiFaMLLM.from_pretrained(ckpt)
