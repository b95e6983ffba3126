"""Training and scoring of the GNN.

- :mod:`~compute_engine.training.data`: :class:`TrainingExamples`, :class:`Task`, :class:`Stores`, loaders;
- :mod:`~compute_engine.training.loop`: :func:`train` with early stopping and model selection;
- :mod:`~compute_engine.training.predict`: :func:`predict` (scores, top-k lists, embeddings);
- :mod:`~compute_engine.training.checkpoint`: save and load models as artifacts;
- :mod:`~compute_engine.training.synthetic`: shops with planted relational signals for tests and benchmarks.
"""

from compute_engine.training.checkpoint import load_checkpoint, save_checkpoint
from compute_engine.training.data import RaggedLabels, Stores, Task, TrainingExamples
from compute_engine.training.loop import EpochRecord, ProgressEvent, TrainingResult, train
from compute_engine.training.predict import Predictions, predict

__all__ = ["RaggedLabels", "Stores", "Task", "TrainingExamples", "train", "TrainingResult", "ProgressEvent",
           "EpochRecord", "predict", "Predictions", "save_checkpoint", "load_checkpoint"]
