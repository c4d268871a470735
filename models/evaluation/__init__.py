"""How good a beatmap is: figures a mapper trusts, as pure functions over `tokenization.Beatmap`.

`evaluate` gives one map's reference-free figures (its own timing, difficulty, the problems a
modder would flag) and, with the song's real map, the side-by-side comparison (timing, rhythm,
difficulty). `aggregate` sums many such reports up as median and spread. Nothing here reads files
or imports torch; rosu-pp-py (star rating) is imported when a rating is asked for.
"""

from models.evaluation.aggregate import aggregate
from models.evaluation.report import evaluate, target_stars_from_tags

__all__ = ["aggregate", "evaluate", "target_stars_from_tags"]
