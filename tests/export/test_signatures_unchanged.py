"""The signatures of an export are its API: the restructurings of issue 15 keep them exactly.

`expected_signatures.json` holds the signatures (names, dtypes, shapes,
SignatureDef defaults) of tiny exports made by the code before the
restructuring; `signature_capture.py` says how it was produced. Issue 16
added one signature, `search_batchable`; every signature of the file stays
exactly as it was.
"""

import json
import pathlib

import pytest

from tests.export.signature_capture import FLAVOURS, build_exports, describe_signatures

EXPECTED = json.loads((pathlib.Path(__file__).with_name("expected_signatures.json")).read_text())


# One export per flavour, built inside its test so that parallel workers never build it twice.
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_signatures_are_those_of_the_original_exports(flavour, tmp_path):
    version_dir = build_exports(tmp_path, flavours=(flavour,))[flavour]
    described = describe_signatures(version_dir)
    assert {name: described.get(name) for name in EXPECTED[flavour]} == EXPECTED[flavour]
    # Added since (issue 16): the signature TensorFlow Serving's batching can merge, batched in every tensor.
    assert set(described) - set(EXPECTED[flavour]) == {"search_batchable"}
    batchable = described["search_batchable"]
    assert all(spec["shape"][0] is None for spec in [*batchable["inputs"].values(), *batchable["outputs"].values()])
    assert batchable["defaults"] == EXPECTED[flavour]["search"]["defaults"]  # as one-element tensors
    # One decision, two records: the metadata `tfsearch serve` reads and the SignatureDef TF Serving fills from.
    info = json.loads((version_dir / "tfsearch_export.json").read_text())
    expected = EXPECTED[flavour]["search"]["defaults"]
    assert info["defaults"] == {name: default["value"] for name, default in expected.items()}
    assert info["defaults"]["k"] == min(10, info["max_k"])
