"""Temporal workflows of the control plane and the task queues their activities run on.

- :mod:`.train_pquery`: TrainPQuery, a predictive query from its text to a chosen model and its metrics;
- :mod:`.predict`: Predict, scoring entities with a trained model;
- :mod:`.incremental_update`: IncrementalUpdate, new source rows through to an optional retrain and re-predict;
- :mod:`.artifacts`: one child workflow per shared artifact, so concurrent jobs build each artifact once;
- :mod:`.health`: the health check of every engine queue;
- :mod:`.messages`, :mod:`.policies`, :mod:`.progress`, :mod:`.trials`: payloads, retry policies and
  activity names, per-step progress, the AutoML search space;
- :mod:`.launch`: the client side (workflow inputs from the metadata DB, start, cancel, query).
"""
