"""Postprocessing: generated event streams to a playable beatmap (objects from every context,
red lines, slider velocities, kiai, resnapping, near-overlap snapping) and splicing a generated
span into a reference map."""
