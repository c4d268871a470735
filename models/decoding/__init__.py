"""Decoding: prompts in, new tokens out, for a batch of rows on a KV cache, with the logits rules
(time order, temperatures, lookback zone, classifier-free guidance) and beam search. Knows the
model only through its `encode`/`decode` interface; knows nothing of windows, passes or beatmaps."""
