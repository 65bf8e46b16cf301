"The house's plan: modules import only lower lessons (no cycles, not even inside functions), and none is too long."
import ast, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'fifa_nb'
MAX_LINES = 500   # issue 16: no module over 500 lines (the generated _modidx.py aside)

def module_notebooks() -> dict:
    "module name -> the notebook that exports it (from its `#| default_exp` cell)."
    found = {}
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for cell in json.loads(nb.read_text())['cells']:
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
            if m: found[m[1]] = nb.stem; break
    return found

def imports_of(path: Path) -> set:
    "Every fifa_nb module a file imports, at the top or inside a function (relative or absolute)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and node.module and node.module.split('.')[0] == 'fifa_nb':
                names = [node.module.split('.')[1]] if '.' in node.module else [a.name for a in node.names]
            else: continue
            out.update(n.split('.')[0] for n in names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split('.')[1] for a in node.names if a.name.startswith('fifa_nb.'))
    return out

def import_graph() -> dict:
    mods = {p.stem for p in PKG.glob('*.py')}
    return {p.stem: (imports_of(p) & mods) - {p.stem} for p in PKG.glob('*.py')}

def cycles(graph: dict) -> list:
    "The strongly connected components with more than one module (Tarjan)."
    index, low, stack, on, out = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index); stack.append(v); on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index: visit(v)
    return out

def test_no_import_cycle():
    assert cycles(import_graph()) == []

def test_modules_import_only_lower_lessons():
    "A module imports only modules whose notebooks come earlier in the numbering (the story's order)."
    owner = module_notebooks()
    wrong = [f'{m} ({owner[m]}) imports {d} ({owner[d]})' for m, deps in import_graph().items() if m in owner
             for d in deps if d in owner and owner[d] > owner[m]]
    assert wrong == []

def test_no_module_is_too_long():
    long = {p.name: n for p in PKG.glob('*.py') if p.name != '_modidx.py'
            and (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}

def test_the_checks_can_fail():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []
    src = ROOT / 'tests' / '_lazy_probe.py'
    try:
        src.write_text('def f():\n    from fifa_nb import regions\n    from .core import load_image\n')
        assert imports_of(src) == {'regions', 'core'}
    finally: src.unlink()

ROW = re.compile(r'^\| `([^`]+)` \| (?:`([^`]+)`|-) \|', re.M)

def lesson_rows(text: str) -> list:
    "(notebook stem, module or None) for every row of the lessons table in a README or notebook text."
    return [(m[1], m[2]) for m in ROW.finditer(text)]

def expected_rows() -> list:
    owner = {nb: mod for mod, nb in module_notebooks().items()}
    stems = sorted(p.stem for p in (ROOT / 'nbs').glob('*.ipynb'))
    return [(s, None if s == 'index' else f'fifa_nb.{owner[s]}') for s in stems]

@pytest.mark.parametrize('where', ['README.md', 'nbs/index.ipynb'])
def test_lesson_tables_list_every_notebook(where):
    "The table of lessons in the README and in the index lists every notebook, in file order, with the module it exports."
    text = (ROOT / where).read_text()
    if where.endswith('.ipynb'): text = '\n'.join(''.join(c['source']) for c in json.loads(text)['cells'] if c['cell_type'] == 'markdown')
    rows = lesson_rows(text)
    expected = expected_rows()
    assert [r for r in rows if r[0] == 'index'] == [('index', None)]
    assert sorted(rows, key=lambda r: (r[0] != 'index', r[0])) == sorted(expected, key=lambda r: (r[0] != 'index', r[0]))
    assert [r[0] for r in rows] == ['index'] + sorted(r[0] for r in rows if r[0] != 'index')   # in the order of the files

def test_the_table_check_can_fail():
    assert lesson_rows('| `00_core` | `fifa_nb.core` | images |\n| `index` | - | start |') == [('00_core', 'fifa_nb.core'), ('index', None)]
    assert ('00_core', 'fifa_nb.core') in expected_rows()
