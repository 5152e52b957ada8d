"""alkit — a notebook-first teaching and reproduction kit for
"Parting with Illusions about Deep Active Learning" (Mittal, Tatarchenko, Cicek, Brox, 2019).

The package holds the machinery (data, models, trainers, query strategies, annotation simulator,
active-learning loop, results store, plots); the numbered notebooks in ``notebooks/`` tell the story.
"""

__version__ = "0.1.0"
