"""Reading results: statistics with intervals (:mod:`~alkit.analysis.stats`), the paper's findings
checked against a run (:mod:`~alkit.analysis.findings`), figures (:mod:`~alkit.analysis.plots`)
and notebook explorers (:mod:`~alkit.analysis.widgets`)."""
