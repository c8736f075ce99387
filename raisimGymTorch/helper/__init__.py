"""Everything around the PPO algorithm: run directories, checkpoints, config, logging, evaluation, video, export,
and the shared training and playing entry points that each env folder's runner.py and tester.py call."""
