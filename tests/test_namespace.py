"""`from fifa_nb.<module> import *` is safe: every module's `__all__` lists only its public names (no private
helper, no method that the module attached to a class), and no name that two modules export means two
different things, so star-importing one module after another (as the notebooks do) never silently replaces
`tasks.parse_box` by another `parse_box`, or a function by a method of the same name.

Each module is star-imported into a namespace of its own, in the notebooks' order (the order of dependencies)."""
import importlib, re
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parents[1] / 'fifa_nb'
# Not star-imported: the generated index, the `python -m fifa_nb` entry point (importing it is running the CLI
# where Python sees it as __main__) and the package itself (`fifa_nb.analyze` is a deliberately separate, light
# wrapper that imports fifa_nb.demo.analyze only when called, so `import fifa_nb` stays light).
SKIP = {'_modidx', '__main__', '__init__'}


def _notebook(path):
    m = re.search(r'File to edit: \.\./nbs/(\S+?)\.ipynb', path.read_text(encoding='utf-8')[:3000])
    return m.group(1) if m else 'zz_' + path.stem   # a module without a notebook goes last


MODULES = [p.stem for p in sorted((p for p in PKG.glob('*.py') if p.stem not in SKIP), key=_notebook)]
# Mark a module's cases with xfail here only while another change is known to fix it, with that change as the reason.
XFAIL = {}


def _params():
    return [pytest.param(m, marks=pytest.mark.xfail(reason=XFAIL[m], strict=False)) if m in XFAIL else m for m in MODULES]


@pytest.fixture(scope='module')
def spaces():
    "module name -> (module, the namespace `from fifa_nb.<module> import *` makes), in import order."
    out = {}
    for name in MODULES:
        ns = {}
        exec(f'from fifa_nb.{name} import *', ns)
        ns.pop('__builtins__', None)
        out[name] = (importlib.import_module(f'fifa_nb.{name}'), ns)
    return out


def _function(obj):
    "The plain function behind a classmethod, staticmethod or bound method (else the object itself)."
    return getattr(obj, '__func__', obj)


def _attached_to(mod, name):
    "The class (of those `mod` can see) that holds the object `mod.<name>` as an attribute, or None."
    obj = getattr(mod, name, None)
    if obj is None or isinstance(obj, type) or not callable(_function(obj)): return None
    for cls in {id(v): v for v in vars(mod).values() if isinstance(v, type)}.values():
        held = cls.__dict__.get(name)
        if held is not None and _function(held) is _function(obj): return cls
    return None


def _describe(obj):
    return f"{getattr(obj, '__module__', None) or type(obj).__name__}.{getattr(obj, '__qualname__', None) or type(obj).__name__}"


def test_every_module_is_checked():
    assert len(MODULES) >= 25 and {'model', 'baselines', 'metrics', 'demo', 'cli'} <= set(MODULES), MODULES
    assert MODULES.index('core') < MODULES.index('model') < MODULES.index('baselines')   # notebooks' order


@pytest.mark.parametrize('name', _params())
def test_all_lists_only_public_names(spaces, name):
    mod, ns = spaces[name]
    assert hasattr(mod, '__all__'), f'fifa_nb.{name} has no __all__ (nbdev-export writes one)'
    private = [n for n in mod.__all__ if n.startswith('_')]
    assert not private, f'fifa_nb.{name}.__all__ lists private names {private}: drop the underscore or keep them out of the export'
    missing = [n for n in mod.__all__ if n not in ns]
    assert not missing, f'fifa_nb.{name}.__all__ lists names the module does not define: {missing}'
    attached = {n: _attached_to(mod, n).__name__ for n in mod.__all__ if _attached_to(mod, n) is not None}
    assert not attached, (f'fifa_nb.{name}.__all__ lists methods attached to a class by assignment ({attached}); '
                          'define them with fastcore\'s @patch (see nbs/02_concepts.ipynb) so they stay methods only')


@pytest.mark.parametrize('name', _params())
def test_no_name_is_shadowed(spaces, name):
    "A name this module exports is, in every other module that exports it, the very same object."
    mod, ns = spaces[name]
    clashes = []
    for other, (omod, ons) in spaces.items():
        if other == name: continue
        for n in set(ns) & set(ons):
            if ns[n] is ons[n]: continue
            if _attached_to(omod, n) is not None and _attached_to(mod, n) is None: continue   # the other module's fault: its case reports it
            clashes.append(f'{n!r}: fifa_nb.{name} exports {_describe(ns[n])}, fifa_nb.{other} exports {_describe(ons[n])}')
    assert not clashes, 'names that mean different things in two modules (a star import of one shadows the other):\n' + '\n'.join(clashes)


def test_the_checks_can_fail():
    "The helpers above see an attached method and a shadowed name (on throwaway modules)."
    import types
    m = types.ModuleType('m')
    class C: pass
    def analyze(self): pass
    C.analyze = analyze
    m.C, m.analyze, m.helper = C, analyze, len
    assert _attached_to(m, 'analyze') is C and _attached_to(m, 'helper') is None and _attached_to(m, 'C') is None
    def from_pretrained(cls): pass
    C.from_pretrained = classmethod(from_pretrained)
    m.from_pretrained = C.__dict__['from_pretrained']
    assert _attached_to(m, 'from_pretrained') is C
