"""The explorer base class: state as attributes, ``render()`` -> figure, ``widget()`` -> ipywidgets."""

from __future__ import annotations

import matplotlib.pyplot as plt


class Explorer:
    """Base of the explorers. Subclasses define ``controls()`` (``{attribute: ipywidget}``),
    ``render(fig=None)`` (draw the current state; returns the matplotlib figure) and ``summary()``
    (a one-line text of the numbers shown)."""

    def set(self, **values):
        """Change state attributes (unknown names raise ``AttributeError``); returns ``self``."""
        for k, v in values.items():
            if not hasattr(self, k):
                raise AttributeError(f"{type(self).__name__} has no setting {k!r}")
            setattr(self, k, v)
        self._changed(values)
        return self

    def _changed(self, values: dict) -> None:
        """Hook: called after ``set`` with the changed values."""

    def controls(self) -> dict:
        """``{state attribute: ipywidget}``; each change calls ``set`` and redraws."""
        raise NotImplementedError

    def render(self, fig=None):
        """Draw the current state into ``fig`` (default: a new figure); returns the figure."""
        raise NotImplementedError

    def summary(self) -> str:
        """The numbers shown, as one line of text."""
        raise NotImplementedError

    def widget(self):
        """ipywidgets box: the controls (rows of up to 4), a summary line (CSS class ``alkit-summary``)
        and the figure, redrawn on every change."""
        import ipywidgets as w
        from IPython.display import display

        controls = self.controls()
        out = w.Output()
        text = w.HTML()
        text.add_class("alkit-summary")

        def redraw(*_):
            try:
                text.value = f"<b>{self.summary()}</b>"
            except Exception as e:  # shown, not raised: a widget callback has no one to raise to
                text.value = f"<b>error: {e}</b>"
                return
            with out:
                out.clear_output(wait=True)
                fig = self.render()
                display(fig)
                plt.close(fig)

        for name, ctrl in controls.items():
            def on_change(change, name=name):
                self.set(**{name: change["new"]})
                redraw()
            ctrl.observe(on_change, "value")
        redraw()
        ctrls = list(controls.values())
        rows = [w.HBox(ctrls[i:i + 4]) for i in range(0, len(ctrls), 4)]
        return w.VBox([*rows, text, out])

    def show(self):
        """Display the widget (JupyterLab) — in a headless run its state is printed as well."""
        from IPython.display import display

        print(self.summary())
        display(self.widget())
