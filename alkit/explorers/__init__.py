"""Explorers: small interactive views for the notebooks (ipywidgets), each also usable from a script.

Each explorer is a class whose state is plain attributes, changed with ``set(**values)``;
``render()`` draws the current state into a matplotlib figure and returns it (no browser needed),
``summary()`` returns the numbers shown, and ``widget()`` builds the ipywidgets controls around
``render()`` for JupyterLab. Under papermill (headless) a notebook cell calls ``show()``, which
displays the widget and the static figure of the current state.

* :class:`ALSandbox` — pick dataset, strategy, augmentation, SSL, budget and cycles; the runs go to
  background workers (stored cycles read at once, new ones drawn as they finish, superseded runs
  stopped); the curve against Random, the images picked this cycle and their class histogram.
* :class:`PoolInspector` — a 2-D map (PCA or t-SNE) of the pool with the labelled points coloured
  by the cycle they were picked in, per strategy, with a cycle slider.
* :class:`ClickExplorer` — a tolerance slider over a segmentation image: polygons, click count and
  the approximated mask's IoU (Mittal et al. Sec. 4, Figs. 10-11).
"""

from alkit.explorers.base import Explorer, deferred_widget
from alkit.explorers.clicks import ClickExplorer
from alkit.explorers.pool import PoolInspector
from alkit.explorers.sandbox import ALSandbox

__all__ = ["Explorer", "ALSandbox", "PoolInspector", "ClickExplorer", "deferred_widget"]
