"""Entry points: the callables' dispatch and the functions' options (what main.py imports)."""
