"""Beam search for the decoding loop: `num_beams` hypotheses per request, kept by summed log-probability.

The usual deterministic beam search (as transformers' generate does without sampling): each step
scores every continuation of every live beam, keeps the best `num_beams` that do not end, and sets
aside those that end (only from the top `num_beams` ranks) with their score divided by their length
(length penalty 1). A request is done once it holds `num_beams` ended hypotheses that no live beam
can still beat. The logits rules apply before the log-softmax; temperatures do not, since nothing
is sampled. The KV cache follows the surviving beams by reordering its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from models.decoding.batch import EOS_TOKEN, DecodeResult
from models.decoding.rules import ClassifierFreeGuidance, Temperature

LENGTH_PENALTY = 1.0


@dataclass
class _Finished:
    """The ended hypotheses of one request, best first, at most `size` of them."""

    size: int
    items: list[tuple[float, list[int]]] = field(default_factory=list)

    def add(self, score: float, tokens: list[int]) -> None:
        self.items.append((score, tokens))
        self.items.sort(key=lambda item: -item[0])
        del self.items[self.size:]

    def settled(self, best_live_sum: float, generated: int) -> bool:
        """Full, and no live beam can reach the worst kept score any more."""
        if len(self.items) < self.size:
            return False
        return self.items[-1][0] >= best_live_sum / max(generated, 1) ** LENGTH_PENALTY


def beam_search(decoder, encoder_states: torch.Tensor, requests, max_new_tokens: int, *, num_beams: int,
                guided: bool, end_mask: torch.Tensor, prompts_of, incremental_for):
    """Results as `Decoder.run` gives them. `prompts_of(rows)` left-pads prompts; `incremental_for`
    builds the model's prefill/step decoder over the given encoder states."""
    beams, count = num_beams, len(requests)
    rows = count * beams
    prompts = [r.prompt for r in requests for _ in range(beams)]
    states = encoder_states.repeat_interleave(beams, dim=0)
    if guided:  # the unconditional twins follow, beam for beam
        prompts += [r.negative_prompt or r.prompt for r in requests for _ in range(beams)]
        states = torch.cat([states, states])
    input_ids, attention_mask = prompts_of(prompts)
    device = input_ids.device
    rules = ([ClassifierFreeGuidance(decoder.cfg_scale)] if guided else []) + [
        rule for rule in decoder.rules if not isinstance(rule, Temperature)]
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    incremental = incremental_for(states, input_ids.shape[1] + max_new_tokens)
    logits = incremental.prefill(input_ids, attention_mask, position_ids)

    sums = torch.full((count, beams), float("-inf"), device=device)
    sums[:, 0] = 0.0  # all beams start identical: let only the first one branch
    generated: list[list[int]] = [[] for _ in range(rows)]
    finished = [_Finished(beams) for _ in range(count)]
    done = [False] * count
    sequence = input_ids
    for step in range(max_new_tokens):
        scores = logits.float()
        for rule in rules:
            scores = rule(sequence, scores)
        scores = torch.nan_to_num(scores[:rows], nan=float("-inf"), posinf=float("-inf"))
        vocab = scores.shape[-1]
        totals = (torch.log_softmax(scores, dim=-1) + sums.reshape(-1, 1)).reshape(count, beams * vocab)
        top_sums, top_ids = totals.topk(2 * beams, dim=1)
        top_sums, top_ids = top_sums.tolist(), top_ids.tolist()
        next_sums = torch.full((count, beams), float("-inf"), device=device)
        next_tokens = torch.full((count, beams), decoder.pad_id, dtype=torch.long, device=device)
        sources = torch.arange(rows, device=device).reshape(count, beams).clone()
        for r in range(count):
            if done[r]:
                continue
            kept = 0
            for rank, (total, flat) in enumerate(zip(top_sums[r], top_ids[r])):
                if total == float("-inf") or kept == beams:
                    break
                source, token = r * beams + flat // vocab, flat % vocab
                if end_mask[r, token]:
                    if rank < beams:
                        tokens = generated[source] + [token]
                        finished[r].add(total / len(tokens) ** LENGTH_PENALTY, tokens)
                    continue
                next_sums[r, kept], next_tokens[r, kept], sources[r, kept] = total, token, source
                kept += 1
            if kept == 0 and not finished[r].items:  # the rules left nothing: end the window here
                finished[r].add(float("-inf"), generated[r * beams] + [EOS_TOKEN])
            done[r] = kept == 0 or finished[r].settled(float(next_sums[r].max()), step + 1)
        order = sources.reshape(-1)
        generated = [generated[s] + [t] for s, t in zip(order.tolist(), next_tokens.reshape(-1).tolist())]
        sums = next_sums
        if all(done) or step == max_new_tokens - 1:
            break
        step_ids = next_tokens.reshape(-1)
        if guided:
            order, step_ids = torch.cat([order, order + rows]), torch.cat([step_ids, step_ids])
        sequence = torch.cat([sequence[order], step_ids[:, None]], dim=1)
        position_ids = position_ids[order][:, -1:] + 1
        incremental.reorder(order)
        logits = incremental.step(step_ids[:, None], position_ids)

    results = []
    for r in range(count):
        if finished[r].items:
            results.append(DecodeResult(finished[r].items[0][1], True))
        else:  # ran out of room: the best live beam
            best = r * beams + int(sums[r].argmax())
            results.append(DecodeResult(generated[best], False))
    return results
