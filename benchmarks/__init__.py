"""Benchmarks, and the helpers they share with the tests (common.py: where the shared data is;
padding.py: padded copies of data sets; synth.py: synthetic conversations).

Each benchmark runs from the repository root as a module - `python -m benchmarks.grid`, say - and
imports its siblings as `benchmarks.NAME`; nothing here edits sys.path, and the voxprint package
never imports from here.
"""
