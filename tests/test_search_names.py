"""Reading the files a query names: paths, dotted modules, traceback frames."""

from __future__ import annotations

import pyarrow as pa

from exocortex.search.names import FileNames, Mention, mentions, named_file_values

PATHS = [
    "django/db/models/query.py",
    "django/db/models/sql/query.py",
    "django/db/models/__init__.py",
    "django/core/validators.py",
    "sklearn/utils/_pprint.py",
    "tests/models.py",
    "app/models.py",
]
NAMES = FileNames(pa.array(PATHS))


def files_of(text: str) -> list[list[str]]:
    return [[PATHS[i] for i in NAMES.files(m)] for m in mentions(text)]


def test_a_traceback_frame_names_its_file_and_function() -> None:
    text = ('Traceback (most recent call last):\n'
            '  File "/home/me/venv/lib/python3.8/site-packages/django/db/models/query.py", line 412, in get\n'
            '    num = len(clone)\n')
    (frame,) = mentions(text)
    assert frame.function == "get" and frame.parts[-1] == "query.py"
    assert files_of(text) == [["django/db/models/query.py"]]  # not sql/query.py: more folders agree


def test_paths_and_file_names_match_from_the_end() -> None:
    assert files_of("see django/core/validators.py") == [["django/core/validators.py"]]
    assert files_of("the bug is in core/validators.py") == [["django/core/validators.py"]]
    # a bare file name is ambiguous: every file of that name, shared
    assert sorted(files_of("look at query.py")[0]) == ["django/db/models/query.py", "django/db/models/sql/query.py"]
    assert files_of("a link https://example.com/x/validators.py is not a path of ours") == []


def test_dotted_names_are_modules_of_at_least_two_parts() -> None:
    assert files_of("sklearn.utils._pprint breaks") == [["sklearn/utils/_pprint.py"]]
    # a module's class or function: the longest prefix that is a module
    assert files_of("django.db.models.query.QuerySet.get") == [["django/db/models/query.py"]]
    assert files_of("import django.db.models") == [["django/db/models/__init__.py"]]
    # one part matched is not enough: models.CharField does not name every models.py
    assert files_of("use models.CharField here") == [[]]
    assert files_of("e.g. this, or self.assertEqual") == [[], []]


def test_mention_values_add_up_and_frames_are_kept() -> None:
    text = ('File "/x/django/db/models/query.py", line 1, in get\n'
            "then django/db/models/query.py again, and query.py once more")
    values, frames = named_file_values(mentions(text), NAMES, len(PATHS))
    query, sql_query = PATHS.index("django/db/models/query.py"), PATHS.index("django/db/models/sql/query.py")
    assert values[query] > 2 * values[sql_query] > 0  # two sure mentions and half an ambiguous one
    assert frames == [(query, "get")]
    assert values[PATHS.index("app/models.py")] == 0
    assert mentions("nothing named here") == []
    assert Mention(("a.py",)).dotted is False
