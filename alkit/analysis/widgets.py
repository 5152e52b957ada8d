"""ipywidgets explorers for saved results; notebooks only call these.

``budget_explorer(df)``: pick strategies and a budget (cycle) with widgets and see the curves and
the accuracy table at that budget, with the gap to Random. Falls back to a static table when
ipywidgets is not available (e.g. a headless papermill run still shows the content).
"""

from __future__ import annotations

import pandas as pd


def table_at_budget(df: pd.DataFrame, cycle: int, y: str = "accuracy", by=("strategy",)) -> pd.DataFrame:
    """Mean +- std over trials of ``y`` at ``cycle`` per group, with the paired gap to Random."""
    from alkit.analysis.stats import gap_to_reference

    by = [c for c in by if c in df.columns]
    part = df[df["cycle"] == cycle]
    out = part.groupby(by).agg(n_labelled=("n_labelled", "mean"), mean=(y, "mean"), std=(y, "std")).reset_index()
    if "random" in set(df["strategy"]):
        extra = [c for c in by if c != "strategy"]
        gaps = gap_to_reference(df, y=y, by=extra)
        gaps = gaps[gaps["cycle"] == cycle][extra + ["strategy", "gap", "gap_std"]]
        out = out.merge(gaps, on=extra + ["strategy"], how="left")
    return out.sort_values("mean", ascending=False).reset_index(drop=True)


def budget_explorer(df: pd.DataFrame, y: str = "accuracy", style: str | None = None):
    """Interactive: strategies (multi-select) + budget slider -> curves with a marker at the chosen
    budget and the table at that budget. Returns the widget (or the table when widgets are missing)."""
    try:
        import ipywidgets as w
        from IPython.display import display
    except ImportError:  # pragma: no cover - ipywidgets is in requirements.txt
        return table_at_budget(df, int(df["cycle"].max()), y)
    import matplotlib.pyplot as plt

    from alkit.analysis.plots import plot_curves

    names = sorted(df["strategy"].unique())
    pick = w.SelectMultiple(options=names, value=tuple(names), description="strategies")
    cycle = w.IntSlider(min=int(df["cycle"].min()), max=int(df["cycle"].max()), value=int(df["cycle"].max()),
                        description="cycle")
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            part = df[df["strategy"].isin(pick.value)]
            if part.empty:
                print("pick at least one strategy")
                return
            fig, ax = plt.subplots(figsize=(6, 3.5))
            plot_curves(part, y=y, style=style, ax=ax)
            budget = part[part["cycle"] == cycle.value]["n_labelled"].mean()
            ax.axvline(budget, color="k", lw=0.8, ls=":")
            plt.show()
            by = ("strategy", style) if style else ("strategy",)
            display(table_at_budget(part, cycle.value, y, by=by).round(4))

    pick.observe(redraw, "value")
    cycle.observe(redraw, "value")
    box = w.VBox([w.HBox([pick, cycle]), out])
    redraw()
    return box
