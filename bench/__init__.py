"""`make bench`: the booking path against its physical limit and against the flow it replaces.

`python -m bench.run --help`; bench/README.md has the method and today's figures.
"""
