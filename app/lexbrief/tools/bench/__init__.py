"""`lexbrief bench`: speed and memory of the app against raw llama.cpp and the hardware's limits.

See `runner` for what is measured and `docs/BENCHMARKS.md` for the recorded results.
"""
