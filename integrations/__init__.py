"""Adapters to outside systems, one folder each, behind the domain's ports."""
