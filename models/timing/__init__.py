"""Timing arithmetic: red lines fitted to beat markers, the votes of several timing passes, and
resnapping times to a grid. Pure numbers and beatmap types: no model, no decoding."""
