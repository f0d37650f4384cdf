"""Lessons: guided walks through the explorer, as data plus a small registry of functions.

A lesson file (JSON, see ``docs/lessons.md``) lists steps. Each step loads or changes a
session, points at a view, quotes live numbers from the current Result through named value
functions, and may set a task whose check is a named pure function of (Session, Result) with
a "Show me" solution that returns a new Session. Nothing from a file is ever evaluated as
code: every name it uses must be in :mod:`explorer.lessons.registry`.

This package never imports Qt (the layering test enforces it).
"""
