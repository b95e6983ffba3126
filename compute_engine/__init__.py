"""The compute engine: trains and applies models from job specs.

- :mod:`compute_engine.job_spec`: the spec a job process receives by URI;
- :mod:`compute_engine.metrics`: holdout metrics and curve data of every task type;
- :mod:`compute_engine.baseline`: LightGBM on the entity table's own columns, beside the GNN;
- :mod:`compute_engine.launchers`: run jobs as local processes or Kubernetes Jobs;
- :mod:`compute_engine.model`: column encoders, the heterogeneous temporal GNN and the task heads;
- :mod:`compute_engine.training`: the training loop, scoring, and checkpoints.

AutoML (``automl/``) and the inference job (``inference/``) are still to come.
"""
