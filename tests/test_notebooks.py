"""One test per notebook: each runs top to bottom (cells flagged `slow`/`cuda` are skipped, as in nbdev-test)."""
import os
from pathlib import Path
import pytest
import nbdev.test as nbt   # not `from nbdev.test import test_nb`: pytest would collect it as a test

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / 'nbs').glob('[!_.]*.ipynb')) + sorted((ROOT / 'tutorials').glob('[!_.]*.ipynb'))
SKIP_FLAGS = ['slow', 'cuda', 'internet']

def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS

@pytest.mark.parametrize('notebook', NOTEBOOKS, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_notebook(notebook, monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    ok, seconds = nbt.test_nb(notebook, skip_flags=SKIP_FLAGS, basepath=str(ROOT))
    assert ok, f'{notebook.name} failed after {seconds:.1f}s: see the traceback printed above'
