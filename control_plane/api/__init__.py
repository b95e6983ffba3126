"""The REST API of the control plane: one router per resource under ``routes/``, dependencies in ``deps``."""
