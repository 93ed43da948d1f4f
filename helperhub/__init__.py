"""Command line of the project: parses arguments, builds settings once, calls typed functions."""
