"""The numbers of a run: per-task scores, intervals, levels, gates, power; plain values in, plain values out."""
