"""Fast machinery: datasets held as tensors (:mod:`~alkit.engine.data`), networks
(:mod:`~alkit.engine.models`), trainers and their losses (:mod:`~alkit.engine.train`) and batched
augmentation on tensors (:mod:`~alkit.engine.augment`)."""
