"""Reading results: statistics with intervals (:mod:`~alkit.analysis.stats`), the paper's claims
judged against a run (:mod:`~alkit.analysis.claims`, shown on the board :mod:`~alkit.analysis.board`),
naming helpers (:mod:`~alkit.analysis.findings`), figures (:mod:`~alkit.analysis.plots`) and notebook
explorers (:mod:`~alkit.analysis.widgets`)."""
