"""Operations: running the suite under supervisord, and looking at it.

``python -m ops.supervise`` (behind ``scripts/*.sh``) writes ``run/env`` for the
checked-in ``supervisord.conf``, starts, stops and describes the suite;
``python -m ops.healthcheck`` is its event listener. Nothing here is imported by
the services (``router``, ``aistudio``, ``webai``) or by the foundation they
share (``suite``): they run the same with or without it
(``tests/test_layers.py``).
"""
