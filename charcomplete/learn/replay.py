"""General text mixed into fine-tuning, so that learning a user's notes does not unlearn the rest.

Fine-tuning on one person's folder pulls the whole model toward it; a little of the general
text the model was pretrained on, replayed among the user's documents, keeps what it knew
(BENCHMARKS.md, "Quality: the built-in model"). The general text is Python's documentation
topics, which every Python installation carries (`pydoc_data.topics`, part of the pretraining
text), so nothing is shipped or fetched for it; where a distribution left it out, fine-tuning
goes on without it.

Only the training side gets it: validation stays the user's own held-out documents, so
the best model is still chosen by how well it knows the user."""

from __future__ import annotations

from pathlib import Path

from charcomplete.learn.corpus import Document


def general_documents(budget_bytes: int) -> list[Document]:
    """Up to `budget_bytes` of general text as documents, in a fixed order (empty if unavailable)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return []
    documents, total = [], 0
    for name in sorted(topics):
        if total >= budget_bytes:
            break
        data = topics[name].encode("utf-8")[: budget_bytes - total]
        if data:
            documents.append(Document(Path(f"<python-docs>/{name}.txt"), data, f"<python-docs>/{name}.txt"))
            total += len(data)
    return documents


def mix_in(train_docs: list[Document], share: float) -> tuple[list[Document], int]:
    """The user's training documents with general text making up about `share` of the result,
    spread evenly among them (training reads the stream in parallel lanes: general text bunched
    at one end would train only some lanes). Returns (documents, general bytes added)."""
    if share <= 0 or not train_docs:
        return train_docs, 0
    user_bytes = sum(len(doc.data) for doc in train_docs)
    general = general_documents(int(user_bytes * share / (1.0 - share)))
    if not general:
        return train_docs, 0
    mixed: list[Document] = []
    every = len(train_docs) / len(general)  # user documents per general one
    next_general = 0
    for index, doc in enumerate(train_docs):
        mixed.append(doc)
        while next_general < len(general) and index + 1 >= (next_general + 1) * every:
            mixed.append(general[next_general])
            next_general += 1
    mixed.extend(general[next_general:])
    return mixed, sum(len(doc.data) for doc in general)
