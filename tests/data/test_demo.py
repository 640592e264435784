"""The demo corpus shipped inside the package is valid and rebuilds identically."""

import subprocess
import sys

from tfsearch.data import DEMO_DIR, check_beir_folder, demo_dataset


def test_demo_is_valid_beir():
    report = check_beir_folder(DEMO_DIR)
    assert report.usable, report.errors
    assert report.counts["documents"] == 288 and report.counts["queries"] == 48
    data = demo_dataset()
    qrels = data.qrels("test")
    assert len(qrels) == 48 and all(sorted(set(v.values())) == [1, 2] for v in qrels.values())
    topics = {doc.metadata["topic"] for doc in data.iter_corpus()}
    assert len(topics) == 12


def test_demo_rebuilds_byte_identically(tmp_path):
    before = {p.relative_to(DEMO_DIR): p.read_bytes() for p in DEMO_DIR.rglob("*") if p.suffix in (".jsonl", ".tsv")}
    proc = subprocess.run([sys.executable, str(DEMO_DIR / "build_demo.py"), "--output", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.suffix in (".jsonl", ".tsv")}
    assert after == before
