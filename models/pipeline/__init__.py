"""Whole jobs built from the rooms below: `mapper generate` (a request resolved to a checkpoint and
passes, run through generation and postprocessing, refined, written as .osu/.osz without
overwriting anything), a mapset of difficulties sharing one timing, and `mapper mod`'s reading of
a map through the model's eyes."""
