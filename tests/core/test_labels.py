from explorer.core.labels import subscript, token_labels


def test_repeated_words_get_occurrence_subscripts():
    texts = ["i", "sat", "by", "the", "river", "bank", ".", "the", "bank", "."]
    assert token_labels(texts) == [
        "i",
        "sat",
        "by",
        "the₁",
        "river",
        "bank₁",
        ".₁",
        "the₂",
        "bank₂",
        ".₂",
    ]


def test_unique_words_are_unchanged_and_labels_are_unique():
    texts = ["a", "b", "a", "a"] * 4
    labels = token_labels(texts)
    assert len(set(labels)) == len(labels)
    assert token_labels(["dog", "cat"]) == ["dog", "cat"]
    assert token_labels([]) == []
    assert subscript(12) == "₁₂"


def test_labels_stay_unique_when_a_token_already_looks_subscripted():
    assert token_labels(["bank₁", "bank", "bank"]) == ["bank₁", "bank₁′", "bank₂"]
    texts = ["a₁", "a", "a", "a₁", "a₁′"]
    assert len(set(token_labels(texts))) == len(texts)
