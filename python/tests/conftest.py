import pathlib
from urllib.parse import unquote, urlparse

import pytest


def local_path(path: str) -> str:
    """A local artifact path from a `Path` column (a path or a file:// URL)."""
    if path.startswith("file://"):
        return unquote(urlparse(path).path)
    return path


@pytest.fixture
def db(tmp_path: pathlib.Path):
    import datafusion_export as dx

    return dx.Database.open(str(tmp_path / "db"))
