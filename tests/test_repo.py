"""The repository's promises: the README's commands, CI running the same test command, packaging of the sample data."""
import importlib.util, re, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def readme_commands():
    text = (ROOT / 'README.md').read_text()
    section = text.split('## Two commands', 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```bash\n(.*?)```', section, re.S)
    return [[l for l in b.splitlines() if l.strip() and not l.startswith('#')] for b in blocks]

def test_readme_states_exactly_two_commands():
    cmds = readme_commands()
    assert len(cmds) == 2 and all(len(c) == 1 for c in cmds), cmds
    main, tests = cmds[0][0], cmds[1][0]
    assert main.rstrip().endswith('fifa_nb demo') and tests.rstrip().endswith('pytest')   # the main job is the demo
    # both need torch: the pinned build is installed before anything else, so no dependency resolves a CUDA build
    for cmd in (main, tests):
        pinned = re.search(r'pip install torch==[\d.]+ ', cmd)
        assert pinned and cmd.index('torch==') < cmd.index('pip install -e'), cmd
    assert main.split('torch==')[1].split()[0] == tests.split('torch==')[1].split()[0], 'the two commands pin different torch builds'

def test_ci_runs_the_readme_test_command():
    ci = (ROOT / '.ci' / 'run').read_text().splitlines()
    assert readme_commands()[1][0] in ci, 'the test command in .ci/run differs from the README'

MODEL_MODULES = {'backbone', 'vision', 'seg_head', 'presets', 'network', 'decoding', 'hub', 'checkpoint', 'model', 'train_state', 'train', 'baselines'}   # the model layer: torch, transformers and peft at the top, on purpose

def test_import_is_light():
    "Every module but the model layer imports without the heavy libraries: they load inside the functions that need them."
    modules = sorted(p.stem for p in (ROOT / 'fifa_nb').glob('*.py') if not p.stem.startswith('_') and p.stem not in MODEL_MODULES)
    assert {'core', 'concepts', 'regions', 'annotator', 'tasks', 'dataset'} <= set(modules), modules
    code = ('import sys, importlib; ' + '; '.join(f'importlib.import_module("fifa_nb.{m}")' for m in modules) + '; '
            'heavy = [m for m in ("torch", "transformers", "gradio", "matplotlib.pyplot", "skimage", "dlib", "mediapipe", '
            '"datasets", "pyarrow", "pandas") if m in sys.modules]; print(heavy); assert not heavy, heavy')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)

def test_sample_data_reach_the_installed_package(tmp_path):
    "Build the wheel, install it into a folder, and load the samples from there (not from the checkout)."
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(tmp_path / 'wheel'), str(ROOT)], check=True)
    wheel = next((tmp_path / 'wheel').glob('fifa_nb-*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    samples = [n for n in names if n.startswith('fifa_nb/data_samples/')]
    for f in ['samples.json', 'astronaut.jpg', 'astronaut.ibug68.json', 'grace_hopper.mediapipe478.json', 'README.md',
              'tokenizer/tokenizer.json', 'tokenizer/tokenizer_config.json', 'checkpoints/small/model.safetensors',
              'checkpoints/small/config.json', 'checkpoints/small/README.md', 'checkpoints/small/tokenizer.json']:
        assert f'fifa_nb/data_samples/{f}' in samples, (f, samples)
    assert not [n for n in samples if '/faces/' in n], 'the portraits ship with the repository, not the wheel'
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(target), str(wheel)], check=True)
    code = ('import fifa_nb.core as c; from pathlib import Path; '
            f'assert Path(c.__file__).is_relative_to({str(target)!r}), c.__file__; '
            'import fifa_nb.samples as s; fs = s.sample_faces(); print(c.data_samples_dir(), [f.name for f in fs]); '
            'assert len(fs) >= 2 and all(f.landmarks is not None and f.image.ndim == 3 for f in fs)')
    out = subprocess.run([sys.executable, '-c', code], check=True, cwd=tmp_path, capture_output=True, text=True,
                         env={'PYTHONPATH': str(target), 'PATH': '/usr/bin:/bin'})
    assert str(target) in out.stdout
    if importlib.util.find_spec('transformers') is None: return   # the tokenizer needs the [model] extra
    code = ('import fifa_nb.backbone as b; from pathlib import Path; '
            f'assert Path(b.__file__).is_relative_to({str(target)!r}), b.__file__; '
            'from fifa_nb.tasks import SEG; tok = b.default_tokenizer(); ids = b.special_token_ids(tok); print(len(tok), ids[SEG])')
    out = subprocess.run([sys.executable, '-c', code], check=True, cwd=tmp_path, capture_output=True, text=True,
                         env={'PYTHONPATH': str(target), 'PATH': '/usr/bin:/bin'})
    assert int(out.stdout.split()[0]) > 1000, out.stdout

def test_tutorials_are_colab_ready():
    """Each tutorial: a guarded install cell flagged for our tests to skip (#| eval: false or #| internet) that installs
    fifa_nb only when missing, from the address the user fills in (REPO_URL: there is no public address, so none is
    written in), never reinstalling Colab's torch; no Colab badge pointing at an invented repository; and a GPU check."""
    import json
    tutorials = sorted((ROOT / 'tutorials').glob('[!_.]*.ipynb'))
    assert len(tutorials) >= 5, tutorials
    text = lambda c: ''.join(c['source'])
    for nb in tutorials:
        cells = json.loads(nb.read_text())['cells']
        assert not any('colab.research.google.com/github/' in text(c) for c in cells), f'{nb.name}: a badge for a repository that may not exist'
        installs = [text(c) for c in cells if c['cell_type'] == 'code' and 'pip' in text(c) and 'install' in text(c)]
        assert installs, f'{nb.name}: no install cell'
        for code in installs:
            assert code.startswith(('#| internet', '#| eval: false')), f'{nb.name}: the install cell must be skipped by the tests'
            assert "find_spec('fifa_nb') is None" in code, f'{nb.name}: unguarded install'
            assert 'REPO_URL' in code and 'github.com/' not in code, f'{nb.name}: install from the address the user fills in'
            assert 'torch' not in code.split("find_spec('fifa_nb') is None", 1)[1], f'{nb.name}: the install must keep Colab torch'
        assert any('cuda.is_available()' in text(c) for c in cells if c['cell_type'] == 'code'), f'{nb.name}: no GPU check'
