"""Download a public BEIR dataset into a folder (for Colab and fresh machines)."""

import pathlib
import tempfile
import urllib.request
import zipfile

# The BEIR benchmark's public mirror (https://github.com/beir-cellar/beir, "Available Datasets").
BEIR_BASE_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"


def download_beir(name, directory, base_url=BEIR_BASE_URL, progress=True):
    """Downloads and unpacks the BEIR dataset `name` into `directory/name`, unless it is already there.

    The zip is fetched to a temporary file and unpacked into a temporary
    folder beside the target, which is renamed into place only once its
    files are checked: an interrupted download never leaves a half-written
    dataset where `BeirDataset` would read it.

    Args:
        name: str. A BEIR dataset name, e.g. `"scifact"`, `"nfcorpus"`, `"fiqa"`.
        directory: folder that receives `name/` (created if missing).
        base_url: str. Where `<name>.zip` is found (`file://` URLs work too).
        progress: bool. A progress bar while downloading.

    Returns:
        `pathlib.Path` of the dataset folder (`corpus.jsonl`, `queries.jsonl`, `qrels/`).

    Raises:
        ValueError: the name is not a plain dataset name, or the archive is
            not a BEIR folder.

    Example:
    ```python
    scifact = download_beir("scifact", "datasets")   # datasets/scifact
    data = BeirDataset(scifact)
    ```
    """
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or name.startswith("."):
        raise ValueError(f"not a BEIR dataset name: {name!r}")
    directory = pathlib.Path(directory)
    target = directory / name
    if (target / "corpus.jsonl").is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}.zip"
    with tempfile.TemporaryDirectory(dir=directory, prefix=f".{name}-download-") as tmp:
        archive = pathlib.Path(tmp) / f"{name}.zip"
        _fetch(url, archive, progress)
        unpacked = pathlib.Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in pathlib.PurePosixPath(member).parts:
                    raise ValueError(f"{url}: unsafe path in the archive: {member!r}")
            zf.extractall(unpacked)
        found = [p.parent for p in unpacked.rglob("corpus.jsonl")]
        if len(found) != 1 or not (found[0] / "queries.jsonl").is_file() or not (found[0] / "qrels").is_dir():
            raise ValueError(f"{url} is not a BEIR dataset archive (corpus.jsonl, queries.jsonl, qrels/)")
        try:
            found[0].rename(target)
        except OSError:
            if not (target / "corpus.jsonl").is_file():  # not another process finishing first
                raise
    return target


def _fetch(url, path, progress):
    with urllib.request.urlopen(url) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {url.rsplit('/', 1)[-1]}")
        while chunk := response.read(1 << 20):
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
