"""What a run leaves on disk: atomic files, run directories, checkpoints and the exported deployable policy."""
