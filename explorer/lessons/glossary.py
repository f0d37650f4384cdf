"""The glossary: every term the window shows, defined in a sentence or two.

Help › Glossary lists these entries, What's This (Shift+F1) links controls to them, and
lesson texts may point at them. Plain data, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.attention_aggregates import HEAD_TYPE_RULES as _R


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    Attributes
    ----------
    term : str
        The word as the window shows it.
    definition : str
        Plain-language meaning, as used in Attention Explorer (may hold simple HTML:
        ``<i>``, ``<b>``, ``<sub>``, ``<sup>``).
    aliases : tuple of str
        Other spellings a search should find (``"[SEP]"`` for ``"[CLS]/[SEP]"``).
    """

    term: str
    definition: str
    aliases: tuple[str, ...] = ()


GLOSSARY: tuple[Term, ...] = (
    Term(
        "token",
        "A piece of text the model reads as one unit. The explorer splits text with BERT's "
        "WordPiece vocabulary: common words are one token, rare words several pieces "
        "(“deposited” → “deposit”, “##ed”). Each token becomes one row of every matrix.",
        ("word piece", "wordpiece"),
    ),
    Term(
        "one-hot",
        "The simplest way to turn words into numbers: word number i gets a vector with a 1 in "
        "place i and 0 everywhere else. Every two different words are then equally unrelated "
        "(cosine 0), so “dog” is as far from “cat” as from “table”.",
    ),
    Term(
        "embedding",
        "A learned vector for each token, placed so that related words point in similar "
        "directions (“dog” near “cat”). A <i>static</i> embedding gives a word one vector "
        "wherever it appears, so both meanings of “bank” share it. The built-in embeddings "
        "are all-MiniLM-L6-v2's token vectors reduced to 64 dimensions.",
        ("static embedding", "embeddings"),
    ),
    Term(
        "d_model",
        "The width of the token vectors X that the heads read: how many numbers describe each "
        "token (2–64 in the workbench, 384 for MiniLM).",
        ("d model",),
    ),
    Term(
        "positional encoding",
        "A vector added to (or placed beside) each token vector that says where the token "
        "sits, because attention by itself ignores order. Sinusoidal encodings use waves of "
        "different lengths; learned ones come from a model.",
        ("position", "positions"),
    ),
    Term(
        "head",
        "One attention computation with its own W<sub>Q</sub>, W<sub>K</sub> and "
        "W<sub>V</sub>. Several heads run side by side on the same tokens, each free to "
        "follow a different relation; their outputs are concatenated.",
        ("heads", "attention head"),
    ),
    Term(
        "d_head",
        "The width of each head's query, key and value vectors: the number of columns of "
        "W<sub>Q</sub>, W<sub>K</sub> and W<sub>V</sub>.",
        ("d head",),
    ),
    Term(
        "query",
        "q<sub>i</sub> = x<sub>i</sub> W<sub>Q</sub>: what token i is looking for. In the "
        "attention heatmap, rows are queries: the words being updated.",
        ("queries", "W_Q", "q"),
    ),
    Term(
        "key",
        "k<sub>j</sub> = x<sub>j</sub> W<sub>K</sub>: what token j offers to be found by. In "
        "the attention heatmap, columns are keys: the words being looked at.",
        ("keys", "W_K", "k"),
    ),
    Term(
        "value",
        "v<sub>j</sub> = x<sub>j</sub> W<sub>V</sub>: what token j hands over when it is "
        "attended to. The output of a head is a weighted sum of values; changing "
        "W<sub>V</sub> changes that sum but never the attention weights.",
        ("values", "W_V", "v"),
    ),
    Term(
        "score",
        "The raw relevance of key j to query i: the dot product q<sub>i</sub>·k<sub>j</sub>. "
        "Large when the two vectors point the same way.",
        ("scores", "raw score", "dot product"),
    ),
    Term(
        "scale",
        "Scores are multiplied by s = 1/(√d_head · τ) before the softmax, so that wider heads "
        "do not produce ever larger scores and ever sharper attention.",
        ("scaled", "scaling"),
    ),
    Term(
        "temperature",
        "τ divides the scores before the softmax. A high temperature (τ > 1) spreads "
        "attention across many tokens; a low one (τ < 1) lets the largest score take almost "
        "all of it.",
        ("τ", "tau"),
    ),
    Term(
        "softmax",
        "Turns a row of scores into weights that are positive and sum to 1: "
        "a<sub>ij</sub> = exp(s<sub>ij</sub>) / Σ<sub>j'</sub> exp(s<sub>ij'</sub>). "
        "The largest score gets the largest weight.",
    ),
    Term(
        "attention weight",
        "a<sub>ij</sub>: how much query i takes from key j. Each row of the attention heatmap "
        "holds one query's weights and sums to 1.",
        ("weights", "attention", "A"),
    ),
    Term(
        "weighted sum",
        "Each token's output y<sub>i</sub> = Σ<sub>j</sub> a<sub>ij</sub> v<sub>j</sub>: the "
        "values of all tokens mixed in the proportions of its attention row. Because the "
        "weights sum to 1, y<sub>i</sub> lies among the v's, pulled toward the tokens it "
        "attends to.",
        ("y", "output"),
    ),
    Term(
        "contextual vector",
        "A token's vector after attention: the heads' outputs y<sub>i</sub> side by side. "
        "Unlike a static embedding it depends on the sentence, so the two “bank”s differ.",
        ("contextual", "contextual embedding"),
    ),
    Term(
        "cosine similarity",
        "cos(a, b) = a·b / (|a| |b|): 1 for vectors pointing the same way, 0 for "
        "perpendicular ones, −1 for opposite ones. The similarity views compare it before "
        "(static) and after (contextual) attention.",
        ("cosine", "cos", "similarity"),
    ),
    Term(
        "mask",
        "Pairs a query may not look at. Their scores become −∞ before the softmax, so they get "
        "weight 0; the heatmap shows them hatched. The per-sentence mask keeps each sentence "
        "to itself; Ctrl+click cuts a single pair.",
        ("masked", "masking", "cut"),
    ),
    Term(
        "causal",
        "A mask that lets each token see only itself and the tokens before it, as a "
        "GPT-style language model must when it predicts the next word: the upper triangle of "
        "the heatmap is empty.",
        ("causal mask",),
    ),
    Term(
        "[CLS]/[SEP]",
        "Special tokens BERT adds: [CLS] at the start of the input, [SEP] at the end of each "
        "sentence. Real models often park attention on them (see attention sink).",
        ("[CLS]", "[SEP]", "special tokens"),
    ),
    Term(
        "entropy",
        "How spread out an attention row is, in bits: 0 when one key takes all the weight, "
        "log<sub>2</sub> T when all T keys share it equally.",
    ),
    Term(
        "layer",
        "One block of a transformer: attention heads, then a feed-forward network, each with "
        "a residual connection. A layer's output is the next layer's input; MiniLM has six.",
        ("layers",),
    ),
    Term(
        "ablate",
        "Switch a head off: its output is replaced by zeros, and the layers above run "
        "without it. Comparing the result with the original shows what the head contributed.",
        ("ablation",),
    ),
    Term(
        "attention sink",
        "A token that takes a large share of attention without carrying meaning, often "
        "[CLS], [SEP] or punctuation. A head that has nothing useful to look at must still put "
        "its weights somewhere (they sum to 1), so it parks them there; its value vector is "
        "small, so the head adds little. Ablating such a head usually changes little. In a "
        "decoder (GPT, Llama) the sink is the first token, which every later token can see: "
        "many heads put most of their weight on it when they have nothing to do (Xiao et al. "
        "2023, “Efficient Streaming Language Models with Attention Sinks”).",
        ("sink", "no-op attention"),
    ),
    Term(
        "head type",
        "What a head of a real model mostly does, named from its mean weights (the badge on "
        "each head of the Model tab's grid). The first rule that holds wins: "
        f"<b>CLS</b> ([CLS] sink): at least {_R.cls_sink:.0%} of the weight on [CLS]; "
        f"<b>SEP</b> ([SEP]/punctuation sink): at least {_R.sep_sink:.0%} on [SEP] and "
        f"punctuation; <b>←</b> (previous token): at least {_R.previous:.0%} on the token just "
        f"before; <b>→</b> (next token): at least {_R.next:.0%} on the token just after; "
        f"<b>●</b> (self): at least {_R.self:.0%} on the token itself. Otherwise <b>≈</b> "
        f"(broad) when the rows' entropy is at least {_R.broad_entropy:.0%} of uniform "
        "attention's, else mixed (no badge).",
        ("head types", "broad", "previous-token head", "[CLS] sink", "[SEP] sink"),
    ),
    Term(
        "rollout",
        "Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each "
        "position after several layers. Each layer's mean attention over heads is mixed half "
        "and half with the identity (the residual connection keeps a token's own vector), "
        "rows summing to 1, and the layers are multiplied: R<sub>l</sub> = Ã<sub>l</sub> "
        "R<sub>l−1</sub>. An estimate, not an explanation: it ignores the values and the "
        "feed-forward layers.",
        ("attention rollout", "mean over heads"),
    ),
    Term(
        "word pooling",
        "Showing attention between whole words (or sentences) instead of word pieces: a "
        "word's cell is the mean, over its query pieces, of the summed weight on the other "
        "word's key pieces, so rows still sum to 1. [CLS] and [SEP] stay on their own.",
        ("words", "sentences", "pooling"),
    ),
    Term(
        "head edit",
        "A change to one head of the loaded model made in the Model tab: its output scaled or "
        "ablated, or its real W<sub>Q</sub>, W<sub>K</sub>, W<sub>V</sub> changed with the "
        "sliders. The model then runs again from that head's layer up; the layers below are "
        "unchanged. Edits are undoable and saved with the session.",
        ("edit this head", "replace edit"),
    ),
    Term(
        "decoder",
        "A transformer that predicts the next token (GPT, Llama): every layer's attention is "
        "causal, so a token sees only itself and the tokens before it, and the last layer's "
        "vector at each position is turned into a probability for every token of the "
        "vocabulary (the LM head). The Decoder tab runs one on the text.",
        ("GPT", "language model", "LM head"),
    ),
    Term(
        "next-token prediction",
        "What a decoder outputs at each position: a probability for every vocabulary token to "
        "come next, the softmax of the logits. The Decoder tab shows the ten likeliest after "
        "the selected position, and the entropy (how unsure the model is: 0 nats is certain).",
        ("next token", "logits", "top-k"),
    ),
    Term(
        "logit lens",
        "Reading a layer's residual stream as if the model ended there: it goes through the "
        "final norm and the LM head, and the likeliest token is shown (nostalgebraist 2020). "
        "Rows are layers, columns positions; it shows at which layer the prediction forms.",
        ("lens",),
    ),
    Term(
        "induction head",
        "A head that completes patterns: at a token A it attends to whatever followed an "
        "earlier A and copies it, so “… A B … A” predicts B (Olsson et al. 2022). It works with "
        "a previous-token head in an earlier layer, which writes each token's predecessor into "
        "its position. The app finds both from measured scores on repeated random tokens "
        "(prefix matching and copying), never from a head's index.",
        ("induction", "a head that copies", "copying"),
    ),
    Term(
        "generate",
        "Append the predicted token to the text and predict again. Greedy takes the likeliest "
        "token each time; sampling draws among the top-k likeliest after dividing the logits "
        "by the temperature (below 1 sharper, above 1 flatter).",
        ("generation", "greedy", "sampling"),
    ),
    Term(
        "PCA",
        "Principal component analysis: the flat view of many-dimensional points that keeps "
        "as much of their spread as possible. The maps use it to draw vectors in 2-D.",
        ("principal components",),
    ),
    Term(
        "colour map",
        "How numbers become colours. Attention uses a 0–1 scale; scores and similarities use "
        "a scale centred at 0.",
        ("colormap", "CET-D1A"),
    ),
)


def lookup(word: str) -> Term | None:
    """The entry whose term or alias equals ``word`` (case-insensitive), or None."""
    w = word.strip().casefold()
    for t in GLOSSARY:
        if t.term.casefold() == w or any(a.casefold() == w for a in t.aliases):
            return t
    return None


def search(text: str) -> list[Term]:
    """Entries that mention ``text`` (case-insensitive): term matches first, then aliases,
    then definitions, each group in glossary order."""
    w = text.strip().casefold()
    if not w:
        return list(GLOSSARY)

    def rank(t: Term) -> int:
        if w in t.term.casefold():
            return 0
        if any(w in a.casefold() for a in t.aliases):
            return 1
        return 2 if w in t.definition.casefold() else 3

    ranked = sorted(GLOSSARY, key=rank)  # sorted is stable: glossary order within a group
    return [t for t in ranked if rank(t) < 3]
