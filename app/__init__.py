"""The composition root: bootstrap, lifecycle and the command line."""
