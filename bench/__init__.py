"""`make bench`: the booking path against its physical limit and against the flow it replaces.

`python -m bench.run --help`; the README's "Benchmark" section has the figures.
"""
