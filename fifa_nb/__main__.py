

# %% ../nbs/90_cli.ipynb #ff58a931
import sys
from fastcore.imports import IN_NOTEBOOK
from fifa_nb.cli import main
if __name__ == '__main__' and not IN_NOTEBOOK: sys.exit(main())   # `python -m fifa_nb ...`

# %% ../nbs/90_cli.ipynb #ff58a931
import sys
from fastcore.imports import IN_NOTEBOOK
from fifa_nb.cli import main
if __name__ == '__main__' and not IN_NOTEBOOK: sys.exit(main())   # `python -m fifa_nb ...`

# %% ../nbs/90_cli.ipynb #ff58a931
import sys
from fifa_nb.cli import main
if getattr(globals().get('__spec__'), 'name', None) == 'fifa_nb.__main__': sys.exit(main())   # `python -m fifa_nb ...`

# %% ../nbs/90_cli.ipynb #ff58a931
import sys
from fifa_nb.cli import main
if __name__ == '__main__' and getattr(globals().get('__spec__'), 'name', None) == 'fifa_nb.__main__': sys.exit(main())   # `python -m fifa_nb ...`