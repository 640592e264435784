"""Reading and validating BEIR folders (corpus.jsonl, queries.jsonl, qrels/*.tsv).

Every problem is reported as a `BeirFormatError` naming the file, the line and
the field, so that a malformed corpus of millions of lines can be fixed
without guessing. Readers stream: the corpus is never held in memory unless
asked for (`BeirDataset.corpus()`).

Layout (https://github.com/beir-cellar/beir):
```
DIR/corpus.jsonl      {"_id": "d1", "title": "...", "text": "...", "metadata": {...}}
DIR/queries.jsonl     {"_id": "q1", "text": "...", "metadata": {...}}
DIR/qrels/SPLIT.tsv   query-id<TAB>corpus-id<TAB>score   (first line is this header)
```
"""

import dataclasses
import json
import pathlib

from tfsearch.utils.format_errors import FileFormatError

QRELS_HEADER = ("query-id", "corpus-id", "score")


class BeirFormatError(FileFormatError):
    """A BEIR file that cannot be used as it is: `"path:line: field 'name': problem"`.

    Attributes:
        path: the file, or None.
        line: 1-based line number, or None.
        field: the JSON field or TSV column concerned, or None.
        problem: what is wrong and, where possible, what to do.
    """

    def __init__(self, problem, path=None, line=None, field=None):
        self.field = field
        super().__init__(problem, path, line)

    def location(self):
        where = super().location()
        return where if self.field is None else f"{where}: field '{self.field}'"


@dataclasses.dataclass(frozen=True)
class Document:
    """One corpus entry."""

    id: str
    title: str
    text: str
    metadata: dict = dataclasses.field(default_factory=dict)

    def contents(self, separator=" "):
        """Title and text joined by `separator` (the BEIR convention), stripped."""
        return (self.title + separator + self.text).strip() if self.title else self.text.strip()


@dataclasses.dataclass(frozen=True)
class Query:
    """One query."""

    id: str
    text: str
    metadata: dict = dataclasses.field(default_factory=dict)


def _report(error, errors):
    if errors is None:
        raise error
    errors.append(error)


def _iter_jsonl(path, errors=None):
    """Yields (line_number, object) for each non-blank line of a JSON-lines file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise BeirFormatError("file not found", path)
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                _report(BeirFormatError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path, line_number), errors)
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                _report(BeirFormatError(f"malformed JSON: {e.msg} (column {e.colno})", path, line_number), errors)
                continue
            if not isinstance(record, dict):
                _report(
                    BeirFormatError(f"expected a JSON object, got {type(record).__name__}", path, line_number), errors
                )
                continue
            yield line_number, record


def _id_of(record, path, line_number):
    if "_id" not in record:
        raise BeirFormatError("missing '_id'", path, line_number, "_id")
    value = record["_id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BeirFormatError(f"'_id' must be a string, got {type(value).__name__}", path, line_number, "_id")
    value = str(value)
    if not value.strip():
        raise BeirFormatError("'_id' is empty", path, line_number, "_id")
    if any(c in value for c in "\t\n\r "):
        raise BeirFormatError(f"'_id' {value!r} contains white space (not allowed in TREC files)", path, line_number, "_id")
    return value


def _string_field(record, name, path, line_number, required):
    if name not in record or record[name] is None:
        if required:
            raise BeirFormatError(f"missing '{name}'", path, line_number, name)
        return ""
    value = record[name]
    if not isinstance(value, str):
        raise BeirFormatError(f"'{name}' must be a string, got {type(value).__name__}", path, line_number, name)
    return value


def _metadata(record, path, line_number):
    value = record.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BeirFormatError(f"'metadata' must be an object, got {type(value).__name__}", path, line_number, "metadata")
    return value


def _iter_entries(path, kind, errors, with_title):
    """Yields validated `(id, title, text, metadata)` of a corpus or queries file."""
    seen = {}
    for line_number, record in _iter_jsonl(path, errors):
        try:
            entry_id = _id_of(record, path, line_number)
            title = _string_field(record, "title", path, line_number, required=False) if with_title else ""
            text = _string_field(record, "text", path, line_number, required=True)
            metadata = _metadata(record, path, line_number)
            if entry_id in seen:
                raise BeirFormatError(
                    f"duplicate {kind} id {entry_id!r} (first on line {seen[entry_id]})", path, line_number, "_id"
                )
            seen[entry_id] = line_number
            if not title.strip() and not text.strip():
                empty = "title and text" if with_title else "text"
                raise BeirFormatError(f"{kind} {entry_id!r} has an empty {empty}", path, line_number, "text")
        except BeirFormatError as e:
            _report(e, errors)
            continue
        yield entry_id, title, text, metadata


def iter_corpus(path, errors=None):
    """Streams the documents of a `corpus.jsonl`, validating each line.

    Args:
        path: the corpus file.
        errors: None to raise on the first problem, or a list that collects
            every `BeirFormatError` while the bad lines are skipped.

    Yields:
        `Document`s in file order.

    Raises:
        BeirFormatError: malformed JSON, missing or duplicate `_id`, a
            non-string title or text, or a document whose title and text are
            both empty.
    """
    for doc_id, title, text, metadata in _iter_entries(path, "document", errors, with_title=True):
        yield Document(doc_id, title, text, metadata)


def iter_queries(path, errors=None):
    """Streams the queries of a `queries.jsonl`; same contract as `iter_corpus`."""
    for query_id, _, text, metadata in _iter_entries(path, "query", errors, with_title=False):
        yield Query(query_id, text, metadata)


def iter_qrels(path, errors=None):
    """Streams `(line_number, query_id, doc_id, score)` from a BEIR qrels TSV.

    The header line `query-id<TAB>corpus-id<TAB>score` is expected first (as
    BEIR writes it) and skipped; a file without it is read from the first line.
    CRLF line endings are accepted. Scores must be integers.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise BeirFormatError("file not found", path)
    seen = {}
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                _report(BeirFormatError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path, line_number), errors)
                continue
            if not line.strip():
                continue
            columns = line.split("\t")
            if line_number == 1 and tuple(c.strip() for c in columns) == QRELS_HEADER:
                continue
            try:
                if len(columns) != 3:
                    raise BeirFormatError(
                        f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(columns)}",
                        path,
                        line_number,
                    )
                query_id, doc_id, score_text = (c.strip() for c in columns)
                if not query_id:
                    raise BeirFormatError("empty query-id", path, line_number, "query-id")
                if not doc_id:
                    raise BeirFormatError("empty corpus-id", path, line_number, "corpus-id")
                try:
                    score = int(score_text)
                except ValueError:
                    raise BeirFormatError(
                        f"score {score_text!r} is not an integer", path, line_number, "score"
                    ) from None
                if (query_id, doc_id) in seen:
                    raise BeirFormatError(
                        f"duplicate judgement ({query_id}, {doc_id}) (first on line {seen[query_id, doc_id]})",
                        path,
                        line_number,
                    )
                seen[query_id, doc_id] = line_number
            except BeirFormatError as e:
                _report(e, errors)
                continue
            yield line_number, query_id, doc_id, score


class BeirDataset:
    """A BEIR folder: corpus, queries and relevance judgements per split.

    Args:
        path: the folder holding `corpus.jsonl`, `queries.jsonl` and `qrels/`.

    Example:
    ```python
    data = BeirDataset("path/to/scifact")
    qrels = data.qrels("test")            # {query_id: {doc_id: score}}
    queries = data.queries("test")        # {query_id: Query}, judged queries only
    for doc in data.iter_corpus():        # streams Documents
        ...
    ```
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        if not self.path.is_dir():
            raise BeirFormatError("not a folder; expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/", self.path)
        for name in ("corpus.jsonl", "queries.jsonl"):
            if not (self.path / name).is_file():
                raise BeirFormatError(f"missing {name} (BEIR layout: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)", self.path)

    @property
    def corpus_path(self):
        return self.path / "corpus.jsonl"

    @property
    def queries_path(self):
        return self.path / "queries.jsonl"

    def qrels_path(self, split):
        return self.path / "qrels" / f"{split}.tsv"

    @property
    def splits(self):
        """The splits that have a qrels file, sorted."""
        qrels_dir = self.path / "qrels"
        return sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []

    def iter_corpus(self):
        """Streams the corpus as `Document`s (validated)."""
        return iter_corpus(self.corpus_path)

    def corpus(self):
        """The whole corpus as `{doc_id: Document}`."""
        return {doc.id: doc for doc in self.iter_corpus()}

    def document_ids(self):
        """The set of corpus ids, read by streaming."""
        return {doc.id for doc in self.iter_corpus()}

    def count_documents(self):
        """Number of non-blank lines of corpus.jsonl (cheap; not validated)."""
        with open(self.corpus_path, "rb") as f:
            return sum(1 for line in f if line.strip())

    def queries(self, split=None):
        """`{query_id: Query}`; with a split, only the queries judged in it."""
        queries = {q.id: q for q in iter_queries(self.queries_path)}
        if split is None:
            return queries
        return {qid: queries[qid] for qid in self.qrels(split, validate_documents=False) if qid in queries}

    def qrels(self, split, validate_documents=True):
        """Relevance judgements of a split as `{query_id: {doc_id: score}}`.

        Raises:
            BeirFormatError: a missing split, a malformed line, or a judgement
                naming an unknown query or (with `validate_documents`) document.
        """
        path = self.qrels_path(split)
        if not path.is_file():
            raise BeirFormatError(f"no qrels for split {split!r}; available splits: {self.splits or 'none'}", path)
        query_ids = {q.id for q in iter_queries(self.queries_path)}
        doc_ids = self.document_ids() if validate_documents else None
        qrels = {}
        for line_number, query_id, doc_id, score in iter_qrels(path):
            if query_id not in query_ids:
                raise BeirFormatError(f"query {query_id!r} is not in queries.jsonl", path, line_number, "query-id")
            if doc_ids is not None and doc_id not in doc_ids:
                raise BeirFormatError(f"document {doc_id!r} is not in corpus.jsonl", path, line_number, "corpus-id")
            qrels.setdefault(query_id, {})[doc_id] = score
        if not qrels:
            raise BeirFormatError("no judgements", path)
        return qrels
