"""One command-line convention everywhere (issue 18, item 5), and the README's command table kept true to `--help`.

- `--json` is a switch: the result as JSON on stdout and nothing else there; files go through `--out`.
- A demo sample name works wherever an image does; a file of that name wins.
- Status and progress go to stderr; stdout is for results.
- `--preset` lists the model's real presets; error messages name flags the command has.
"""
import json, re
from pathlib import Path
import pytest
from fifa_nb.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r'(?<![\w-])--[a-z][a-z0-9-]*')


def run(capsys, argv):
    "main(argv) -> (exit code, stdout, stderr); argparse's exits (--help, usage errors) give their code."
    capsys.readouterr()
    try: code = main(argv)
    except SystemExit as e: code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def help_text(capsys, command=None):
    code, out, _ = run(capsys, ([command] if command else []) + ['--help'])
    assert code == 0, command
    return out


def subcommands(capsys) -> list:
    "The subcommands `fifa_nb --help` lists (argparse indents each under the COMMAND positional)."
    text = help_text(capsys)
    block = text.split('COMMAND\n', 1)[1].split('\n\n', 1)[0]   # the lines after the `COMMAND` heading
    return re.findall(r'^    ([a-z][a-z-]*)(?:\s|$)', block, flags=re.M)


def readme_table() -> list:
    "The `fifa_nb ...` lines of the README's command table (the block after 'Every command has `--help`')."
    text = (ROOT / 'README.md').read_text()
    after = text.split('Every command has `--help`', 1)[1]
    block = after.split('```', 2)[1]
    lines = [l for l in block.splitlines() if l.strip()]
    assert lines and all(l.startswith('fifa_nb ') for l in lines), lines
    return lines


def test_readme_table_matches_help(capsys):
    "Every subcommand and flag the README's table names exists in `--help`, and every subcommand is in the table."
    commands = subcommands(capsys)
    assert len(commands) >= 10 and 'evaluate' in commands, commands
    table = readme_table()
    in_table = {line.split()[1] for line in table}
    assert in_table <= set(commands), f'the README names commands that do not exist: {in_table - set(commands)}'
    assert set(commands) <= in_table, f'commands missing from the README table: {set(commands) - in_table}'
    helps = {c: help_text(capsys, c) for c in commands}
    for line in table:
        command = line.split()[1]
        missing = set(FLAG.findall(line)) - set(FLAG.findall(helps[command]))
        assert not missing, f'README: `fifa_nb {command}` has no {sorted(missing)} (see fifa_nb {command} --help)'


def test_every_flag_the_cli_names_exists(capsys):
    "Messages and help texts in fifa_nb/cli.py name only flags some command has (no `model_path`, no renamed flag)."
    known = set(FLAG.findall(help_text(capsys)))
    for c in subcommands(capsys): known |= set(FLAG.findall(help_text(capsys, c)))
    source = (ROOT / 'fifa_nb' / 'cli.py').read_text()
    named = set(FLAG.findall(source))
    assert named - known == set(), f'fifa_nb/cli.py names flags no command has: {sorted(named - known)}'


def test_preset_choices_are_the_models_presets(capsys):
    from fifa_nb.model import PRESETS
    text = ' '.join(help_text(capsys, 'train').split())   # unwrapped
    assert f'model preset: {", ".join(PRESETS)}; default small' in text
    code, _, err = run(capsys, ['train', '--preset', 'huge', '--data', 'd', '--out', 'o'])
    assert code == 2 and 'huge' in err and all(repr(p) in err for p in PRESETS), err


@pytest.mark.parametrize('argv', [['landmarks', 'astronaut/swap_mouth'], ['annotate', 'grace_hopper', 'grace_hopper/swap_eyes'],
                                  ['analyze', 'astronaut/swap_mouth']])
def test_json_is_a_switch_that_prints_json_alone(capsys, tmp_path, argv):
    "With --json stdout is one JSON document; with --out too, the file is written and the note about it goes to stderr."
    code, out, _ = run(capsys, argv + ['--json'])
    assert code == 0
    data = json.loads(out)   # nothing but the JSON
    assert isinstance(data, dict) and data
    suffix = '.json' if argv[0] in ('landmarks', 'annotate') else '.png'
    code, out2, err = run(capsys, argv + ['--json', '--out', str(tmp_path / f'x{suffix}')])
    assert code == 0 and json.loads(out2) == data and 'wrote' in err and (tmp_path / f'x{suffix}').is_file()
    if suffix == '.json': assert json.loads((tmp_path / 'x.json').read_text()) == data


def test_a_sample_name_is_an_image_everywhere(capsys, tmp_path):
    "analyze, annotate, concepts and landmarks all take a demo sample by name, fakes included."
    for argv in (['concepts', 'astronaut/swap_mouth', '--out', str(tmp_path / 'c.png')], ['landmarks', 'grace_hopper/smile'],
                 ['annotate', 'astronaut', 'astronaut/swap_mouth', '--out', str(tmp_path / 'a.json')],
                 ['analyze', 'grace_hopper/swap_eyes', '--task', 'det']):
        code, out, err = run(capsys, argv)
        assert code == 0, (argv, err)
    code, _, err = run(capsys, ['landmarks', 'no_such_sample'])
    assert code == 1 and 'grace_hopper/swap_eyes' in err   # the message lists the sample names


def test_a_file_wins_over_a_sample_of_the_same_name(capsys, tmp_path, monkeypatch):
    from fifa_nb.demo import demo_sample
    from fifa_nb.core import image_to_pil
    monkeypatch.chdir(tmp_path)
    image_to_pil(demo_sample('astronaut')['picture']).save(tmp_path / 'grace_hopper', 'PNG')   # a file called like a sample
    code, out, _ = run(capsys, ['landmarks', 'grace_hopper', '--backend', 'opencv', '--json'])
    assert code == 0
    found = json.loads(out)
    assert found['backend'].startswith('opencv') and found['image_size'] == list(demo_sample('astronaut')['picture'].shape[1::-1])


def test_errors_name_the_commands_flags(capsys, tmp_path):
    "Library messages written for Python callers (model_path=, overwrite=True) reach the terminal as the command's flags."
    from fifa_nb.demo import sample_file
    picture = sample_file('grace_hopper', 'real')
    code, _, err = run(capsys, ['landmarks', picture, '--backend', 'dlib', '--landmark-model', str(tmp_path / 'none.dat')])
    assert code == 1 and 'model_path' not in err and ('--landmark-model' in err or 'dlib is not installed' in err), err
    (tmp_path / 'x.json').write_text('{}')
    code, _, err = run(capsys, ['landmarks', 'grace_hopper', '--out', str(tmp_path / 'x.json')])
    assert code == 1 and '--force' in err and 'overwrite=' not in err, err
    assert (tmp_path / 'x.json').read_text() == '{}'   # refused, untouched


def untimed(x):
    return {k: untimed(v) for k, v in x.items() if k != 'seconds'} if isinstance(x, dict) else x


@pytest.fixture(scope='module')
def small_build(tmp_path_factory):
    "A 12-image FiFa-11 build, made through the command line with its status lines on (not --quiet)."
    out = tmp_path_factory.mktemp('fifa11') / 'data'
    import contextlib, io
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(['build-data', '--out', str(out), '--n', '12'])
    return out, code, stdout.getvalue(), stderr.getvalue()


def test_build_data_status_goes_to_stderr(small_build):
    out, code, stdout, stderr = small_build
    assert code == 0, stderr[-2000:]
    assert 'shards done' in stderr and 'joining the shards' in stderr   # build_dataset's status lines
    assert 'shards done' not in stdout and 'joining' not in stdout
    assert [l.split()[0] for l in stdout.splitlines()] == ['wrote', 'annotator:', 'load:'], stdout   # the result only


def test_evaluate_json_switch_and_out_file(small_build, capsys, tmp_path):
    data = str(small_build[0])
    base = ['evaluate', '--reference', '--data', data, '--max-per-task', '1', '--splits', 'test', '--quiet']
    code, out, err = run(capsys, base + ['--json'])
    assert code == 0, err
    metrics = json.loads(out)   # stdout: the JSON alone; the table went to stderr
    assert list(metrics) == ['reference'] and metrics['reference']['test']['det']['bal_acc'] == 1.0
    assert '| system | split |' in err
    bench = tmp_path / 'bench.json'
    code, out, err = run(capsys, base + ['--out', str(bench), '--no-gallery'])
    assert code == 0 and '| system | split |' in out
    assert untimed(json.loads(bench.read_text())) == untimed(metrics)   # the same metrics (each run has its own timing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bench.csv', 'bench.json']   # --no-gallery: no picture
    code, _, err = run(capsys, base + ['--out', str(bench)])
    assert code == 1 and '--force' in err                                             # never replaced silently
    code, _, err = run(capsys, base + ['--out', str(tmp_path / 'bench.txt')])
    assert code == 1 and '.json' in err
    assert run(capsys, base + ['--out', str(bench), '--force', '--no-gallery'])[0] == 0
