"""A decoding step captured once as a CUDA graph and replayed for every later token.

The step (models.static_kv_decoder) reads and writes only fixed buffers, so replaying the recorded
kernels is the same computation as running it: same kernels, same inputs, same tokens as eager.
Capture follows torch's recipe (torch.cuda.graphs): warm up on a side stream so lazy
initialisation (cuBLAS handles, workspace) happens outside the graph, then record.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Eager runs before capture: the first call of a kernel may allocate or pick an algorithm, which a
# graph must not record. torch's examples use a few; the step is repeatable, so extra runs are harmless.
WARMUP_RUNS = 3


class GraphedStep:
    """`step()` recorded on the current CUDA device; calling this replays it and returns its output
    tensor (overwritten by the next replay).

    `slot` is the step's one piece of state that advances: warm-up and capture must leave the cache
    as one real step would, so it is reset before each warm-up run (re-running a step at the same
    slot writes the same keys and values again) and the real first step is the first replay
    (capturing records kernels without running them).
    """

    def __init__(self, step: Callable[[], torch.Tensor], slot: torch.Tensor):
        if slot.device.type != "cuda":
            raise ValueError(f"a CUDA graph needs CUDA tensors, not {slot.device.type}")
        start = slot.clone()
        side = torch.cuda.Stream(device=slot.device)
        side.wait_stream(torch.cuda.current_stream(slot.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                step()
                slot.copy_(start)
        torch.cuda.current_stream(slot.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = step()
        slot.copy_(start)  # capture does not run the kernels; belt and braces for the slot

    def __call__(self) -> torch.Tensor:
        self.graph.replay()
        return self.output
