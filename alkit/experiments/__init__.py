"""Running experiments: one :class:`~alkit.experiments.config.Experiment` per run, the recipes in one
place (:mod:`~alkit.experiments.recipes`), parallel units (:mod:`~alkit.experiments.runner`), the
data-keyed results store (:mod:`~alkit.experiments.store`), notebooks headless
(:mod:`~alkit.experiments.reproduce`) and the paper's protocol as a report card
(:mod:`~alkit.experiments.evaluate`)."""
