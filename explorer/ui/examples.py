"""The Examples menu: sentences that show what attention does."""

from __future__ import annotations

from collections.abc import Callable

from explorer.core.session import Session

BANK = "I sat by the river bank. I deposited money in the bank."
DOG = "The dog chased the cat off the table."
CAUSAL = "The cat sat on the mat because it was tired"
PARAGRAPH = (
    "Self-attention lets every word in a sentence look at every other word and decide how much "
    "each one matters for its own meaning. A word starts as a static vector that is the same in "
    "every sentence, so the bank of a river and the bank that holds your money begin identical. "
    "Each vector is projected three times: into a query that asks a question, a key that "
    "advertises what the word offers, and a value that carries what the word will pass on. The "
    "score between two words is the dot product of one word's query with the other word's key. "
    "Scores are divided by the square root of the dimension so that they do not grow with the "
    "size of the vectors, then a softmax turns each row of scores into weights that are positive "
    "and sum to one. The new vector of a word is the weighted sum of all the values, so a word "
    "surrounded by water and fishing drifts towards one meaning while a word surrounded by "
    "deposits and loans drifts towards another. Several heads do this in parallel, each with its "
    "own projections, and each can learn to follow a different relation: the previous word, the "
    "subject of a verb, the noun an adjective describes, or the end of the sentence. A causal "
    "mask hides the future so that a language model can only read what came before, and the "
    "temperature decides whether attention picks one winner or spreads itself thinly across "
    "the whole text. Stacking many such layers, with feed-forward networks and residual "
    "connections between them, gives the transformers that translate, summarise and write."
)

EXAMPLES: list[tuple[str, Callable[[], Session]]] = [
    ("The two “bank” sentences", lambda: Session(text=BANK)),
    ("The dog chased the cat off the table", lambda: Session(text=DOG)),
    ("Causal language model (masked future)", lambda: Session(text=CAUSAL, causal=True)),
    ("A 300-token paragraph", lambda: Session(text=PARAGRAPH)),
]
