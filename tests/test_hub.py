"""The Hugging Face Hub (issue 18): `from_pretrained('owner/name')`, `push_to_hub`, the model card. No network: a `LocalHub`
folder stands in for the Hub (laid out as huggingface_hub's cache, read back by huggingface_hub's own offline lookup), and
huggingface_hub's offline switch is on for every test."""
import json, shutil, warnings
from pathlib import Path
import pytest

torch = pytest.importorskip('torch')
hf = pytest.importorskip('huggingface_hub')
from fifa_nb.core import FifaError
from fifa_nb.model import (FiFaMLLM, CheckpointError, ManifestWarning, LocalHub, is_hub_id, model_card, dataset_provenance,
                           download_checkpoint, MANIFEST)
from test_checkpoints import _pretrained_style, _same_outputs


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import huggingface_hub.constants as constants
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)   # whatever a test does, nothing leaves the machine


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return _pretrained_style(tmp_path_factory.mktemp('bases'))


def _snapshots(hub, repo_id): return sorted((hub.cache_dir / ('models--' + repo_id.replace('/', '--')) / 'snapshots').iterdir())


def test_push_and_load_round_trip_through_the_local_hub(model, tmp_path, monkeypatch):
    hub = LocalHub(tmp_path / 'hub')
    monkeypatch.chdir(tmp_path)   # no folder 'student/fifa-tiny' here: the id must be read as a Hub id, never as a path
    model.push_to_hub('student/fifa-tiny', api=hub)
    again = FiFaMLLM.from_pretrained('student/fifa-tiny', cache_dir=hub.cache_dir, download=False)
    assert _same_outputs(model, again)
    # download=True with the Hub unreachable (offline): huggingface_hub falls back to its cache, the same files
    assert _same_outputs(model, FiFaMLLM.from_pretrained('student/fifa-tiny', cache_dir=hub.cache_dir))
    snap = _snapshots(hub, 'student/fifa-tiny')[0]
    assert {'README.md', MANIFEST, 'config.json', 'model.safetensors'} <= {p.name for p in snap.iterdir()}


def test_revisions_and_tampering(model, tmp_path):
    hub = LocalHub(tmp_path / 'hub')
    first = model.push_to_hub('student/fifa-tiny', api=hub)
    other = FiFaMLLM.from_preset('tiny', seed=5)
    second = other.push_to_hub('student/fifa-tiny', api=hub, commit_message='a second model')
    kw = dict(cache_dir=hub.cache_dir, download=False)
    assert _same_outputs(other, FiFaMLLM.from_pretrained('student/fifa-tiny', **kw))                    # main: the latest push
    assert _same_outputs(model, FiFaMLLM.from_pretrained('student/fifa-tiny', revision=first, **kw))    # pinned to a commit
    with pytest.raises(CheckpointError, match='not in the local Hugging Face cache'):
        FiFaMLLM.from_pretrained('student/fifa-tiny', revision='no-such-branch', **kw)
    w = hub.cache_dir / 'models--student--fifa-tiny' / 'snapshots' / second / 'model.safetensors'
    data = bytearray(w.read_bytes()); data[-1] ^= 1; w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='model.safetensors does not match its sha256'): FiFaMLLM.from_pretrained('student/fifa-tiny', **kw)
    card = w.parent.parent / first / 'README.md'
    card.write_text(card.read_text() + '\nEdited on the Hub.\n')   # a model card edited on the Hub: a warning, not a refusal
    with pytest.warns(ManifestWarning, match='README.md changed'): FiFaMLLM.from_pretrained('student/fifa-tiny', revision=first, **kw)


def test_hub_ids_paths_and_messages(model, tmp_path, monkeypatch):
    assert is_hub_id('owner/name') and is_hub_id('Qwen/Qwen2.5-0.5B-Instruct')
    assert not any(is_hub_id(s) for s in ('small', '/abs/path', './rel/x', 'a/b/c', '~/x', 'a/../b', Path('owner/name')))
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / 'empty-cache'
    with pytest.raises(CheckpointError, match=r"'owner/missing' is not a folder here .* not in the local Hugging Face cache \(download=False\)"):
        FiFaMLLM.from_pretrained('owner/missing', cache_dir=empty, download=False)
    with pytest.raises(CheckpointError, match='could not be downloaded'):
        FiFaMLLM.from_pretrained('owner/missing', cache_dir=empty)   # offline
    with pytest.raises(CheckpointError, match='not a fifa_nb checkpoint folder'): FiFaMLLM.from_pretrained(Path('owner/missing'))
    with pytest.raises(FifaError, match='revision= is for Hub ids'): FiFaMLLM.from_pretrained('./owner/missing', revision='main')
    model.save_pretrained(tmp_path / 'owner' / 'local')   # a folder that exists is read as a folder, whatever it looks like
    assert _same_outputs(model, FiFaMLLM.from_pretrained('owner/local', cache_dir=empty, download=False))
    with pytest.raises(FifaError, match='is not a Hub id'): model.push_to_hub('just-a-name', api=LocalHub(tmp_path / 'hub'))


def test_only_the_files_the_manifest_lists_are_downloaded_from_its_commit(model, tmp_path, monkeypatch):
    "Stray files in a Hub repository (a pickle, notes) are never downloaded; every file comes from the manifest's commit."
    import huggingface_hub
    repo = tmp_path / 'remote'
    model.save_pretrained(repo)
    torch.save({'x': torch.zeros(1)}, repo / 'pytorch_model.bin'); (repo / 'notes.txt').write_text('not in the manifest')
    commit, calls = 'a' * 40, []
    def fake_file(repo_id, filename, revision=None, cache_dir=None, **kw):
        calls.append(('file', filename, revision))
        out = Path(cache_dir) / 'snapshots' / commit / filename; out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / filename, out); return str(out)
    def fake_snapshot(repo_id, revision=None, allow_patterns=None, cache_dir=None, **kw):
        calls.append(('snapshot', tuple(sorted(allow_patterns)), revision))
        out = Path(cache_dir) / 'snapshots' / commit
        for p in repo.iterdir():
            if p.name in allow_patterns: shutil.copy(p, out / p.name)
        return str(out)
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', fake_file)
    monkeypatch.setattr(huggingface_hub, 'snapshot_download', fake_snapshot)
    folder = download_checkpoint('owner/name', cache_dir=tmp_path / 'cache')
    assert calls[0] == ('file', MANIFEST, None) and calls[1][2] == commit
    listed = set(json.loads((repo / MANIFEST).read_text())['files'])
    assert set(calls[1][1]) == listed | {MANIFEST} and 'pytorch_model.bin' not in calls[1][1]
    assert {p.name for p in folder.iterdir()} == listed | {MANIFEST}
    assert _same_outputs(model, FiFaMLLM.from_pretrained('owner/name', cache_dir=tmp_path / 'cache'))


def test_push_to_hub_uses_hfapi_upload_folder(model, monkeypatch):
    import huggingface_hub
    seen = {}
    class Recorder:
        def __init__(self, token=None): seen['token'] = token
        def create_repo(self, repo_id, private=None, exist_ok=False): seen['create'] = (repo_id, private, exist_ok)
        def upload_folder(self, repo_id, folder_path, revision=None, create_pr=False, commit_message=None):
            seen['files'] = sorted(p.name for p in Path(folder_path).iterdir())
            seen['upload'] = (repo_id, revision, create_pr, commit_message)
            return 'commit-info'
    monkeypatch.setattr(huggingface_hub, 'HfApi', Recorder)
    assert model.push_to_hub('me/fifa', private=True, token='t0k', revision='dev') == 'commit-info'
    assert seen['token'] == 't0k' and seen['create'] == ('me/fifa', True, True)
    assert seen['upload'][:3] == ('me/fifa', 'dev', False) and 'tiny preset' in seen['upload'][3]
    assert {'README.md', MANIFEST, 'config.json', 'model.safetensors', 'tokenizer.json'} <= set(seen['files'])


def test_the_model_card_states_what_it_is_given_and_nothing_else(model, tmp_path):
    text = model_card(model)
    assert 'Unknown: no provenance was given' in text and 'No figures were given' in text
    assert 'Crop and framing' in text and 'results/generalisation.md' in text and 'license: apache-2.0' in text
    assert 'Only what was trained is stored' not in text   # no bases were passed: a full checkpoint
    data = tmp_path / 'fifa11'; data.mkdir()
    (data / 'fifa11.json').write_text(json.dumps(dict(format='fifa_nb.fifa11/2', config=dict(n=8, seed=0, licence='CC0'),
        splits=dict(train=dict(items=6, samples=40), test=dict(items=2, samples=12)),
        identities={'congress/1': dict(base='congress/1', source='congress', split='train'),
                    'congress/2': dict(base='congress/2', source='congress', split='test')})))
    prov = dataset_provenance(data)
    assert prov['splits'] == dict(train=dict(images=6, samples=40, people=1), test=dict(images=2, samples=12, people=1))
    assert prov['sources'] == ['congress'] and prov['licence'] == 'CC0'
    rows = [dict(split='test_unseen_person', people='120 people never trained on', metric='AUC (head)', value=0.605, n=120,
                 source='results/generalisation.md')]
    folder = model.save_pretrained(tmp_path / 'ck', card=dict(data=prov, results=rows))
    card = (folder / 'README.md').read_text()
    assert '"licence": "CC0"' in card and '| test_unseen_person | 120 people never trained on | AUC (head) | 0.605 | 120 |' in card
    assert 'Only what was trained is stored' in card and 'base_model' not in card   # local folders are not Hub ids
    with pytest.raises(CheckpointError, match='results\\[0\\] lacks the field'):
        model.save_pretrained(tmp_path / 'bad', card=dict(results=[dict(metric='AUC', value=0.9)]))   # a figure without its split
    assert not (tmp_path / 'bad').exists()
