"""Slow, obvious references that the fast code is checked against: the official evaluator's algorithms,
DETAD's analyses and BMN's Soft-NMS loop, one prediction at a time in plain Python.

The tests compare against them and the benchmarks time them; nothing else in the package imports them.
"""
