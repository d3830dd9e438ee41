import platform

import pytest

from peftbench.errors import UserError
from peftbench.tasks.common.corpora import pydoc_topics


def test_deterministic():
    assert pydoc_topics(10) == pydoc_topics(10)


def test_n_and_max_chars_honoured():
    texts, info = pydoc_topics(12, max_chars=500)
    assert len(texts) == 12 and info["n_texts"] == 12
    assert all(200 <= len(t) <= 500 for t in texts)
    assert info["source"] == "pydoc_data.topics"
    assert info["python_version"] == platform.python_version()
    assert len(info["sha256"]) == 64


def test_prefix_of_larger_request():
    assert pydoc_topics(5)[0] == pydoc_topics(20)[0][:5]


def test_hash_changes_with_n_and_max_chars():
    assert pydoc_topics(10)[1]["sha256"] != pydoc_topics(11)[1]["sha256"]
    assert pydoc_topics(10)[1]["sha256"] != pydoc_topics(10, max_chars=1000)[1]["sha256"]


@pytest.mark.parametrize("n", [0, -1, 10_000])
def test_bad_n(n):
    with pytest.raises(UserError, match="n_texts"):
        pydoc_topics(n)
