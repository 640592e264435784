"""tfsearch: a TensorFlow semantic-search pipeline (BERT two-tower, ScaNN, diversity re-ranking)."""
import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

# The stack that is known to work together (see docs/architecture.md, "Dependency stack").
INSTALL_REQUIRES = [
    "tensorflow~=2.20.0",
    "tf-keras~=2.20.1",
    "tensorflow-text~=2.20.1",
    "tensorflow-recommenders==0.7.7",
    "tensorflow-serving-api~=2.20.0",  # warm-up request protos; gRPC services of `tfsearch serve` (brings grpcio)
    "scann==1.4.2",
    "transformers>=4.57,<5",
    "safetensors>=0.4",
    "ir-measures>=0.4.3",
    "pyndeval>=0.0.8",  # alpha-nDCG and subtopic recall (TREC's ndeval) for ir-measures
    "matplotlib>=3.8",
    "numpy>=1.26,<2.3",
    "tqdm>=4.66",
    "bm25s>=0.2",  # lexical BM25 retrieval for hybrid search
    "PyStemmer>=2.2",  # English stemming for BM25
    "fastapi>=0.115",  # tfsearch serve
    "uvicorn>=0.30",
    # uvicorn's C HTTP parser and libuv event loop, which it picks by itself when installed (what
    # `uvicorn[standard]` adds): less CPU per request than h11 and asyncio (docs/benchmarks.md#serving).
    "httptools>=0.6",
    "uvloop>=0.19; sys_platform != 'win32'",
    "prometheus-client>=0.20",  # tfsearch serve: /monitoring/prometheus/metrics
    # tfsearch encode: the corpus-encoding pipeline (DirectRunner here; Dataflow, Flink, Spark by options).
    # Moves protobuf from 7.x to 6.33 (Beam needs protobuf<7); TF, TF Text and tensorflow-serving-api accept it.
    "apache-beam==2.77.0",
    "google-crc32c>=1.5",  # TFRecord checksums for Beam's WriteToTFRecord (C implementation; crcmod is pure Python)
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest>=8",
        "pytest-timeout>=2.3",
        "pytest-xdist>=3.6",  # the suite runs on every core (2 on CI), see pytest.ini
        "hypothesis>=6.100",
        "httpx>=0.27",  # FastAPI's TestClient
        "schemathesis>=4",  # a bounded run against the server's OpenAPI schema
        "selenium>=4.20",  # the search page in headless Chromium (Debian's chromium + chromium-driver)
        "nbclient>=0.10",  # the notebooks are executed top to bottom by the tests
        "nbformat>=5.10",
        "ipykernel>=6.29",
    ],
    # Baselines measured side by side in bench/. torch is pinned to the CPU
    # build that this project's machines carry; install it before this extra.
    "bench": [
        "torch==2.13.0",
        "sentence-transformers>=3,<6",
        "faiss-cpu>=1.8",
    ],
}

setup(
    name="tfsearch",
    version="0.1.0",
    description="End-to-end TensorFlow semantic search: BERT two-tower, ScaNN, diversity re-ranking",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["tfsearch", "tfsearch.*"]),
    package_data={"tfsearch.data": ["demo/*.jsonl", "demo/qrels/*.tsv", "demo/*.md"],
                  "tfsearch.serving": ["*.html"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["tfsearch=tfsearch.cli:main"]},
    license="Apache-2.0",
)
