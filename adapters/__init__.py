"""Thin glue between frameworks and the confstream engine; each imports its framework lazily."""
