"""Whole flows in one process: feed -> store -> platforms, the CLI through click's runner."""
