"""The signatures of an export are its API: the restructurings of issue 15 keep them exactly.

`expected_signatures.json` holds the signatures (names, dtypes, shapes,
SignatureDef defaults) of tiny exports made by the code before the
restructuring; `signature_capture.py` says how it was produced.
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
    assert describe_signatures(version_dir) == EXPECTED[flavour]
    # One decision, two records: the metadata `tfsearch serve` reads and the SignatureDef TF Serving fills from.
    info = json.loads((version_dir / "tfsearch_export.json").read_text())
    expected = EXPECTED[flavour]["search"]["defaults"]
    assert info["defaults"] == {name: default["value"] for name, default in expected.items()}
    assert info["defaults"]["k"] == min(10, info["max_k"])
