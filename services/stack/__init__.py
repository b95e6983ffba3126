"""The embedded stack behind ``pq up`` / ``pq down`` / ``pq status``.

``processes`` starts, finds and stops detached processes and checks ports; ``parts`` describes the parts of
the stack (Temporal, the API, the worker) with their commands, ports and health checks; ``launcher`` brings
them up, down and reports on them.
"""
