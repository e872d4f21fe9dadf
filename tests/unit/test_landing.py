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


def test_a_batch_lands_chunk_by_chunk_and_reads_back_in_chunks(tmp_path):
    from bizenv.landing import iter_landed_batch, landed_row_count

    chunks = [pd.DataFrame({"uscc": [f"{i:018d}" for i in range(start, start + size)],
                            "source_row": range(start + 2, start + size + 2)})
              for start, size in ((0, 3), (3, 0), (3, 4))]
    path = land_raw_batch(str(tmp_path), "registration", "registration-b2", iter(chunks), dt.date(2024, 6, 3))
    assert landed_row_count(path) == 7
    back = list(iter_landed_batch(path, 2))
    assert [len(c) for c in back] == [2, 2, 2, 1]  # never more than asked, whatever was written
    assert pd.concat(back)["source_row"].tolist() == list(range(2, 9))
    assert pd.concat(back)["uscc"].iloc[0] == "000000000000000000"


def test_a_source_failing_half_way_leaves_no_landing_file(tmp_path):
    def failing():
        yield pd.DataFrame({"uscc": ["x"], "source_row": [2]})
        raise ValueError("source gone")

    with pytest.raises(ValueError, match="source gone"):
        land_raw_batch(str(tmp_path), "registration", "registration-b3", failing(), dt.date(2024, 6, 3))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
