from __future__ import annotations

from exocortex.search.query import parse_query
from exocortex.search.tokenize import chunk_terms, code_tokens, path_tokens


def test_camel_and_snake_case_are_split_and_kept_whole() -> None:
    assert code_tokens("getUserName") == ["getusername", "get", "user", "name"]
    assert code_tokens("user_id") == ["user_id", "user", "id"]
    assert code_tokens("HTTPServer") == ["httpserver", "http", "server"]
    assert code_tokens("parse_XML2Json") == ["parse_xml2json", "parse", "xml", "json"]


def test_dotted_paths_are_kept_whole_and_split() -> None:
    assert code_tokens("os.path.join(a)") == ["os.path.join", "os", "path", "join"]


def test_stopwords_and_single_letters_are_dropped_but_identifiers_kept() -> None:
    tokens = code_tokens("for x in the items: return self.value if it else None")
    assert tokens == ["items", "self.value", "value"]
    # a whole identifier that contains a stopword part keeps its other parts
    assert code_tokens("is_empty") == ["is_empty", "empty"]


def test_path_tokens_name_stem_dirs_and_modules() -> None:
    tokens = path_tokens("src/exocortex/store/lance.py")
    for expected in ("src/exocortex/store/lance.py", "lance.py", "lance", "store.lance",
                     "exocortex.store.lance", "store", "exocortex"):
        assert expected in tokens
    assert path_tokens("") == ()


def test_chunk_terms_hold_path_symbol_and_text() -> None:
    terms = chunk_terms("pkg/users.py", "UserStore.getName", "return self.cache[key]").split()
    assert "users.py" in terms and "userstore.getname" in terms and "getname" in terms
    assert "cache" in terms and "key" in terms
    assert terms.count("getname") == 2  # the symbol counts twice


def test_query_weights_identifiers_paths_and_quotes() -> None:
    q = parse_query('where does getUserName read "cache miss" in store/lance.py')
    assert q.terms["getusername"] > q.terms["user"]
    assert q.terms["lance.py"] >= 2.0
    assert q.terms["cache"] > 1.0
    assert "getusername" in q.identifiers
    assert "store/lance.py" in q.paths
    assert "where" not in q.identifiers  # plain words are not identifiers
    assert parse_query("   ").empty
    assert parse_query("the of and").empty



def test_a_several_line_querys_first_line_weighs_more() -> None:
    text = "Autodetector crashes on rename\n\nWhen I rename a model the migration fails."
    plain, titled = parse_query(text), parse_query(text, title_weight=2.0)
    assert titled.terms["autodetector"] == 2 * plain.terms["autodetector"]
    assert titled.terms["rename"] == 2 * plain.terms["rename"]  # in the title, and again below
    assert titled.terms["migration"] == plain.terms["migration"]
    one_line = "Autodetector crashes on rename"
    assert parse_query(one_line, title_weight=2.0).terms == parse_query(one_line).terms  # no title to weigh
