"""A data quality report for a BEIR folder (`tfsearch data check DIR`)."""

import collections
import dataclasses
import hashlib

import numpy as np

from tfsearch.data.beir import BeirDataset, BeirFormatError, iter_corpus, iter_qrels, iter_queries

NEAR_EMPTY_WORDS = 3
_EXAMPLES = 5


def _length_summary(lengths):
    if not lengths:
        return {}
    values = np.asarray(lengths)
    return {
        "min": int(values.min()),
        "p50": int(np.percentile(values, 50)),
        "p90": int(np.percentile(values, 90)),
        "p99": int(np.percentile(values, 99)),
        "max": int(values.max()),
        "mean": round(float(values.mean()), 1),
    }


@dataclasses.dataclass
class DataQualityReport:
    """What `check_beir_folder` found.

    `errors` make the data unusable (the loader would refuse it); `warnings`
    are worth a look but do not stop evaluation.
    """

    path: str
    counts: dict = dataclasses.field(default_factory=dict)
    lengths: dict = dataclasses.field(default_factory=dict)
    errors: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def usable(self):
        return not self.errors

    def to_dict(self):
        return dataclasses.asdict(self) | {"usable": self.usable}

    def format(self):
        """The report as text for a terminal."""
        lines = [f"Data quality report for {self.path}", ""]
        lines.append("Counts")
        for key, value in self.counts.items():
            lines.append(f"  {key:<38} {value}")
        if self.lengths:
            lines.append("")
            lines.append("Lengths in words        min    p50    p90    p99    max   mean")
            for key, s in self.lengths.items():
                if s:
                    lines.append(
                        f"  {key:<20} {s['min']:>6} {s['p50']:>6} {s['p90']:>6} {s['p99']:>6} {s['max']:>6} {s['mean']:>6}"
                    )
        for title, items in (("Errors", self.errors), ("Warnings", self.warnings)):
            lines.append("")
            lines.append(f"{title} ({len(items)})" if items else f"{title}: none")
            lines.extend(f"  - {item}" for item in items[:50])
            if len(items) > 50:
                lines.append(f"  ... and {len(items) - 50} more")
        lines.append("")
        lines.append("Verdict: usable" if self.usable else "Verdict: NOT usable; fix the errors above")
        return "\n".join(lines)


def check_beir_folder(path):
    """Validates a BEIR folder completely and describes it.

    Unlike the loader, which stops at the first problem, this collects every
    problem of every file.

    Returns:
        A `DataQualityReport`.
    """
    report = DataQualityReport(path=str(path))
    try:
        dataset = BeirDataset(path)
    except BeirFormatError as e:
        report.errors.append(str(e))
        return report

    # --- corpus ---
    problems = []
    doc_ids = set()
    doc_lengths, title_lengths = [], []
    by_hash = collections.defaultdict(list)
    near_empty = []
    try:
        for doc in iter_corpus(dataset.corpus_path, errors=problems):
            doc_ids.add(doc.id)
            words = len(doc.text.split())
            doc_lengths.append(words + len(doc.title.split()))
            title_lengths.append(len(doc.title.split()))
            if words + len(doc.title.split()) < NEAR_EMPTY_WORDS:
                near_empty.append(doc.id)
            by_hash[hashlib.sha1(doc.contents().lower().encode("utf-8")).digest()].append(doc.id)
    except BeirFormatError as e:
        problems.append(e)
    report.errors.extend(str(e) for e in problems)
    duplicates = [ids for ids in by_hash.values() if len(ids) > 1]
    report.counts["documents"] = len(doc_ids)
    report.counts["documents with an empty title"] = sum(1 for n in title_lengths if n == 0)
    report.counts["duplicate document texts (groups)"] = len(duplicates)
    if duplicates:
        examples = "; ".join(", ".join(g[:3]) for g in duplicates[:_EXAMPLES])
        report.warnings.append(f"{len(duplicates)} groups of documents share the same text, e.g. {examples}")
    if near_empty:
        report.warnings.append(
            f"{len(near_empty)} documents have fewer than {NEAR_EMPTY_WORDS} words, e.g. {', '.join(near_empty[:_EXAMPLES])}"
        )
    report.lengths["documents"] = _length_summary(doc_lengths)

    # --- queries ---
    problems = []
    queries = {}
    try:
        for query in iter_queries(dataset.queries_path, errors=problems):
            queries[query.id] = query
    except BeirFormatError as e:
        problems.append(e)
    report.errors.extend(str(e) for e in problems)
    report.counts["queries"] = len(queries)
    report.lengths["queries"] = _length_summary([len(q.text.split()) for q in queries.values()])
    query_texts = collections.defaultdict(list)
    for q in queries.values():
        query_texts[q.text.strip().lower()].append(q.id)
    duplicate_queries = [ids for ids in query_texts.values() if len(ids) > 1]
    if duplicate_queries:
        report.warnings.append(
            f"{len(duplicate_queries)} groups of queries share the same text, e.g. "
            + "; ".join(", ".join(g[:3]) for g in duplicate_queries[:_EXAMPLES])
        )

    # --- qrels ---
    splits = dataset.splits
    if not splits:
        report.errors.append(f"{dataset.path / 'qrels'}: no qrels/SPLIT.tsv files; nothing can be evaluated")
    judged_queries = set()
    for split in splits:
        problems = []
        pairs, split_queries, split_docs = 0, set(), set()
        orphan_queries, orphan_docs = collections.Counter(), collections.Counter()
        relevant_per_query = collections.Counter()
        path = dataset.qrels_path(split)
        for line_number, query_id, doc_id, score in iter_qrels(path, errors=problems):
            pairs += 1
            split_queries.add(query_id)
            split_docs.add(doc_id)
            if score > 0:
                relevant_per_query[query_id] += 1
            if query_id not in queries:
                if not orphan_queries:
                    problems.append(BeirFormatError(f"query {query_id!r} is not in queries.jsonl", path, line_number, "query-id"))
                orphan_queries[query_id] += 1
            if doc_id not in doc_ids:
                if not orphan_docs:
                    problems.append(BeirFormatError(f"document {doc_id!r} is not in corpus.jsonl", path, line_number, "corpus-id"))
                orphan_docs[doc_id] += 1
        report.errors.extend(str(e) for e in problems)
        if orphan_queries:
            report.errors.append(
                f"{path}: {sum(orphan_queries.values())} judgements name {len(orphan_queries)} unknown queries (orphans)"
            )
        if orphan_docs:
            report.errors.append(
                f"{path}: {sum(orphan_docs.values())} judgements name {len(orphan_docs)} unknown documents (orphans)"
            )
        without_relevant = split_queries - set(relevant_per_query)
        if without_relevant:
            report.warnings.append(
                f"split {split!r}: {len(without_relevant)} queries have no judgement with score > 0, e.g. "
                + ", ".join(sorted(without_relevant)[:_EXAMPLES])
            )
        judged_queries |= split_queries
        report.counts[f"qrels[{split}] judgements"] = pairs
        report.counts[f"qrels[{split}] queries"] = len(split_queries)
        report.counts[f"qrels[{split}] documents"] = len(split_docs)
        if relevant_per_query:
            report.counts[f"qrels[{split}] relevant per query (mean)"] = round(
                sum(relevant_per_query.values()) / len(relevant_per_query), 2
            )
    unjudged = sorted(set(queries) - judged_queries)
    report.counts["queries without judgements"] = len(unjudged)
    if unjudged and splits:
        report.warnings.append(
            f"{len(unjudged)} queries have no judgements in any split, e.g. {', '.join(unjudged[:_EXAMPLES])}"
        )
    return report
