"""Generation: a song's windows, the passes (timing, kiai, map, SV) that sweep them with prompts
built from the finished contexts, given contexts from a reference map, parallel and batched
variants, super timing's passes, and the per-call trace. Events in, events out: no files."""
