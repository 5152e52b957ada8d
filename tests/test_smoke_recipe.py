"""One smoke recipe (alkit.experiments.recipes.SMOKE): every notebook at preset smoke takes it for the
parameters it has; a notebook's own params/<stem>.smoke.yaml only adds what is particular to it."""

from pathlib import Path

import pytest
import yaml

from alkit.engine.data import dataset_kind
from alkit.experiments import notebook_files as F
from alkit.experiments.evaluate import SMOKE as EVALUATE_SMOKE
from alkit.experiments.recipes import SMOKE

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = F.list_notebooks(ROOT / "notebooks") + F.list_notebooks(ROOT / "notebooks" / "solutions")


def _own(nb: Path) -> dict:
    return yaml.safe_load((nb.parent / "params" / f"{nb.stem}.smoke.yaml").read_text()) or {}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_parameters_are_the_recipe_then_the_notebooks_own(nb):
    params, own = F.parameter_defaults(nb), _own(nb)
    got = F.preset_parameters(nb, "smoke")
    if "dataset" not in params:
        assert got == own
        return
    recipe = SMOKE[dataset_kind(own.get("dataset", params["dataset"]))]
    for k, v in got.items():
        assert v == own.get(k, recipe.get(k)), k
    for k in params:
        if k in recipe and k not in own:
            assert got[k] == recipe[k]
    # the file repeats nothing the recipe gives: one place for the smoke numbers
    assert not [k for k in own if k in params and recipe.get(k, object()) == own[k]]


def test_smoke_recipe_reaches_the_classification_and_segmentation_notebooks():
    p01 = F.preset_parameters(ROOT / "notebooks" / "01_augmentation.ipynb", "smoke")
    assert {k: p01[k] for k in ("initial", "step", "cycles", "trials", "epochs", "min_steps")} == \
        {k: SMOKE["classification"][k] for k in ("initial", "step", "cycles", "trials", "epochs", "min_steps")}
    p06 = F.preset_parameters(ROOT / "notebooks" / "06_segmentation_al.ipynb", "smoke")
    assert (p06["n_train"], p06["initial"], p06["epochs"]) == tuple(SMOKE["segmentation"][k]
                                                                    for k in ("n_train", "initial", "epochs"))


def test_evaluate_smoke_is_the_recipes():
    assert EVALUATE_SMOKE and all(SMOKE["classification"][k] == v for k, v in EVALUATE_SMOKE.items())


def test_default_preset_overrides_nothing_and_unknown_preset_is_refused():
    nb = ROOT / "notebooks" / "00_quickstart.ipynb"
    assert F.preset_parameters(nb, "default") == {}
    with pytest.raises(ValueError, match="unknown preset"):
        F.preset_parameters(nb, "huge")
