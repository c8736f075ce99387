"""Training and playing: the on-policy runner, its config, logging, evaluation and multi-process support, and the
entry points that each env folder's runner.py and tester.py call."""
