import datetime as dt

import pandas as pd
import pytest

from bizenv.landing import land_raw_batch, landing_path, read_landed_batch


@pytest.mark.parametrize("root", ["memory://bizenv-landing", "local"])
def test_raw_batches_land_once_on_any_fsspec_root(root, tmp_path):
    root = str(tmp_path / "landing") if root == "local" else root
    raw = pd.DataFrame({"uscc": ["0915292100000001X", ""], "name": ["阿拉善", "x"], "source_row": [2, 3]})
    path = land_raw_batch(root, "registration", "registration-b1", raw, dt.date(2024, 6, 3))
    assert path == landing_path(root, "registration", "registration-b1", dt.date(2024, 6, 3))
    assert path.endswith("registration/2024/06/03/registration-b1.parquet")
    back = read_landed_batch(path)
    assert back["uscc"].tolist() == ["0915292100000001X", ""]  # codes stay text, leading zero kept
    assert back["name"].tolist() == ["阿拉善", "x"]
    with pytest.raises(FileExistsError, match="immutable"):
        land_raw_batch(root, "registration", "registration-b1", raw, dt.date(2024, 6, 3))
