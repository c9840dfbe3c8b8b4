"""BM25 over a collection's chunks: tokenisation, the plural stemmer, building the postings and
scoring a query.

Tokens are lower-cased ``\\w+`` runs, plurals stripped with Harman's S-stemmer. Scores are Okapi
BM25 with Lucene's non-negative idf, ``log(1 + (N - df + 0.5) / (df + 0.5))``; every distinct query
term counts once. The index is a term-major CSR (``indptr`` per term, chunk ids, term frequencies)
plus each chunk's length, so it can be saved as plain arrays (:meth:`BM25Index.arrays`) and loaded
without re-tokenising the collection; the per-posting weights are computed at load.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

_WORD = re.compile(r"\w+")
DEFAULT_K1 = 0.9
DEFAULT_B = 0.9


def s_stem(word: str) -> str:
    """Harman's S-stemmer: ``-ies`` -> ``-y``, ``-es`` -> ``-e``, ``-s`` -> ``""`` (plurals only)."""
    if len(word) > 3 and word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def terms(text: str, stem: bool = True) -> list[str]:
    """The BM25 terms of ``text``: lower-cased word runs, plural-stemmed when ``stem``."""
    words = _WORD.findall(text.lower())
    return [s_stem(w) for w in words] if stem else words


class BM25Index:
    """Postings of a collection and the BM25 weights derived from them (see the module docstring)."""

    def __init__(
        self,
        vocab: Sequence[str],
        indptr: np.ndarray,
        doc_ids: np.ndarray,
        tf: np.ndarray,
        doc_len: np.ndarray,
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        stem: bool = True,
    ) -> None:
        if len(indptr) != len(vocab) + 1 or int(indptr[-1]) != len(doc_ids) or len(doc_ids) != len(tf):
            raise ValueError(
                f"BM25 arrays disagree: {len(vocab)} terms, indptr {len(indptr)}, "
                f"{len(doc_ids)} postings, {len(tf)} term frequencies"
            )
        self.vocab = list(vocab)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.doc_ids = np.asarray(doc_ids, dtype=np.int32)
        self.tf = np.asarray(tf, dtype=np.float32)
        self.doc_len = np.asarray(doc_len, dtype=np.float32)
        self.k1, self.b, self.stem = float(k1), float(b), bool(stem)
        self.size = len(self.doc_len)
        if len(self.doc_ids) and int(self.doc_ids.max()) >= self.size:
            raise ValueError(f"BM25 postings name chunk {int(self.doc_ids.max())} of only {self.size}")
        self._term_id = {t: i for i, t in enumerate(self.vocab)}
        df = np.diff(self.indptr).astype(np.float64)
        self.idf = np.log1p((self.size - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(self.doc_len.mean()) if self.size else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * self.doc_len / max(avg, 1e-9))
        per_term_idf = np.repeat(self.idf, np.diff(self.indptr))
        self.weights = (per_term_idf * self.tf * (self.k1 + 1.0) / (self.tf + norm[self.doc_ids])).astype(
            np.float32
        )

    @classmethod
    def build(
        cls, texts: Iterable[str], *, k1: float = DEFAULT_K1, b: float = DEFAULT_B, stem: bool = True
    ) -> BM25Index:
        """Index ``texts`` (chunk i is the i-th text)."""
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths: list[int] = []
        for doc, text in enumerate(texts):
            tokens = terms(text, stem)
            lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(doc)
                tfs.append(count)
        vocab = sorted(postings)
        counts = np.array([len(postings[t][0]) for t in vocab], dtype=np.int64)
        indptr = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
        doc_ids = np.fromiter(
            (d for t in vocab for d in postings[t][0]), dtype=np.int32, count=int(indptr[-1])
        )
        tf = np.fromiter((f for t in vocab for f in postings[t][1]), dtype=np.float32, count=int(indptr[-1]))
        return cls(vocab, indptr, doc_ids, tf, np.array(lengths, dtype=np.float32), k1=k1, b=b, stem=stem)

    def arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays (``np.savez``); :meth:`from_arrays` reads them back."""
        return {
            "vocab": np.frombuffer("\n".join(self.vocab).encode("utf-8"), dtype=np.uint8),
            "indptr": self.indptr,
            "doc_ids": self.doc_ids,
            "tf": self.tf.astype(np.uint16) if float(self.tf.max(initial=0)) < 65536 else self.tf,
            "doc_len": self.doc_len,
        }

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        stem: bool = True,
    ) -> BM25Index:
        """An index from :meth:`arrays` output. Raises KeyError / ValueError when they are incomplete."""
        raw = bytes(np.asarray(arrays["vocab"], dtype=np.uint8))
        vocab = raw.decode("utf-8").split("\n") if raw else []
        return cls(
            vocab, arrays["indptr"], arrays["doc_ids"], arrays["tf"], arrays["doc_len"], k1=k1, b=b, stem=stem
        )

    def query_terms(self, query: str) -> list[int]:
        """Ids of the query's distinct terms that occur in the collection."""
        found = (self._term_id.get(t) for t in dict.fromkeys(terms(query, self.stem)))
        return [i for i in found if i is not None]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``, float32 ``[size]`` (zeros when no term matches)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in self.query_terms(query):
            lo, hi = self.indptr[term], self.indptr[term + 1]
            out[self.doc_ids[lo:hi]] += self.weights[lo:hi]  # chunk ids are unique within a posting list
        return out
