"""The paper's protocol — not for users to bend: who is labelled (:mod:`~alkit.protocol.pool`), the
active-learning cycle and its budgets (:mod:`~alkit.protocol.loop`), and the simulated annotator
whose clicks are the segmentation budget (:mod:`~alkit.protocol.annotation`)."""
