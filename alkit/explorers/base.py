"""The explorer base class: state as attributes, ``render()`` -> figure, ``widget()`` -> ipywidgets."""

from __future__ import annotations

import threading
import time

import matplotlib.pyplot as plt


class Explorer:
    """Base of the explorers. Subclasses define ``controls()`` (``{attribute: ipywidget}``),
    ``render(fig=None)`` (draw the current state; returns the matplotlib figure) and ``summary()``
    (a one-line text of the numbers shown)."""

    LIVE_INTERVAL = 1.0  # seconds between two redraws of a live widget

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
        and the figure, redrawn on every change. An explorer with ``subscribe(callback)`` (one that
        computes in the background, e.g. :class:`~alkit.explorers.ALSandbox`) is also redrawn
        whenever it reports progress: by one redraw thread, at most every ``LIVE_INTERVAL`` s."""
        import ipywidgets as w
        from IPython.display import display

        controls = self.controls()
        out = w.Output()
        text = w.HTML()
        text.add_class("alkit-summary")
        live = hasattr(self, "subscribe")

        def redraw(*_):
            try:
                text.value = f"<b>{self.summary()}</b>"
            except Exception as e:  # shown, not raised: a widget callback has no one to raise to
                text.value = f"<b>error: {e}</b>"
                return
            if live or threading.current_thread() is not threading.main_thread():
                # from any thread: the figure as PNG output (no pyplot state, no output capture, which
                # needs the kernel's main thread; e.g. a widget built by :func:`deferred_widget`)
                try:
                    out.outputs = (figure_output(self.render(fig=_bare_figure())),)
                except Exception as e:  # noqa: BLE001 - shown like a summary error
                    text.value += f"<br><b>error drawing the figure: {e}</b>"
                return
            with out:
                out.clear_output(wait=True)
                fig = self.render()
                display(fig)
                plt.close(fig)

        wake = _Redrawer(redraw, self.LIVE_INTERVAL) if live else None
        for name, ctrl in controls.items():
            def on_change(change, name=name):
                try:
                    self.set(**{name: change["new"]})
                except Exception as e:  # e.g. a budget the pool cannot meet
                    text.value = f"<b>error: {e}</b>"
                    return
                wake() if wake else redraw()
            ctrl.observe(on_change, "value")
        if wake:  # subscribed before the first drawing: progress made while it draws is drawn next
            self.subscribe(wake)
            wake.start()
            wake.draw_now()
        else:
            redraw()
        ctrls = list(controls.values())
        rows = [w.HBox(ctrls[i:i + 4]) for i in range(0, len(ctrls), 4)]
        return w.VBox([*rows, text, out])

    def show(self):
        """Display the widget (JupyterLab) — in a headless run its state is printed as well."""
        from IPython.display import display

        print(self.summary())
        display(self.widget())


def deferred_widget(build, wait, message: str):
    """A box shown at once with ``message``; a daemon thread calls ``wait()`` and then ``build()``
    (which returns a widget) and puts that widget in the box, or the error in place of the message.

    For a view that needs a background computation first (the web app's pool inspector needs the
    sandbox's runs): the page, which Voila sends only once every cell has run, does not wait for the
    training."""
    import html

    import ipywidgets as w

    note = w.HTML(f"<i>{html.escape(message)}</i>")
    note.add_class("alkit-deferred")
    box = w.VBox([note])

    def fill():
        try:
            wait()
            box.children = (build(),)
        except Exception as e:  # noqa: BLE001 - shown: a background thread has no one to raise to
            note.value = f"<b>error: {html.escape(str(e))}</b>"

    threading.Thread(target=fill, daemon=True, name="alkit-deferred").start()
    return box


def _bare_figure():
    """A figure outside pyplot's registry (safe to draw in a background thread)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(13, 3.8))


def figure_output(fig, dpi: int = 80) -> dict:
    """A figure as a Jupyter ``display_data`` output (PNG), for ``ipywidgets.Output.outputs``."""
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": "<Figure>"}}


class _Redrawer:
    """Calling it asks for a redraw; one daemon thread runs ``redraw`` (never two at once), at most
    every ``interval`` seconds, the last request always honoured."""

    def __init__(self, redraw, interval: float):
        self.redraw, self.interval = redraw, interval
        self.event = threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> None:
        self.event.set()

    def draw_now(self) -> None:
        """Redraw in the calling thread (the widget's first drawing, which a headless run keeps)."""
        with self.lock:
            self.redraw()

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True, name="alkit-redraw").start()

    def _loop(self) -> None:
        while True:
            self.event.wait()
            self.event.clear()
            t0 = time.monotonic()
            try:
                with self.lock:
                    self.redraw()
            except Exception:  # noqa: BLE001 - the next request redraws again
                pass
            time.sleep(max(0.0, self.interval - (time.monotonic() - t0)))
