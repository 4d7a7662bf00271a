"""URL normalisation for cross-feed dedupe, and content keys."""

from urllib.parse import urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aggregator.poll.dedupe import content_hash, http_url, url_key

HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){1,2}", fullmatch=True)
SEGMENTS = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), max_size=4)
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(
    lambda name: not name.startswith(("utm", "pk", "mtm", "hsa", "vero", "oly"))
)
PARAMS = st.dictionaries(NAMES, st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True), max_size=4)
TRACKING = st.dictionaries(
    st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid", "mc_cid"]),
    st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
    max_size=3,
)


def build(scheme, host, path, params, fragment="", port=""):
    query = f"?{urlencode(params)}" if params else ""
    return f"{scheme}://{host}{port}/{'/'.join(path)}{query}{fragment}"


@given(HOSTS, SEGMENTS, PARAMS)
def test_key_is_idempotent_on_its_own_url_form(host, path, params):
    key = url_key(build("https", host, path, params))
    assert url_key("https://" + key) == key


@given(HOSTS, SEGMENTS, PARAMS, TRACKING, st.sampled_from(["", "#top", "#comments-3"]))
def test_tracking_params_and_fragments_do_not_change_the_key(host, path, params, tracking, frag):
    assume(tracking)
    plain = url_key(build("https", host, path, params))
    assert url_key(build("https", host, path, {**params, **tracking}, frag)) == plain


@given(HOSTS, SEGMENTS, PARAMS, st.randoms())
def test_query_order_does_not_change_the_key(host, path, params, rnd):
    items = list(params.items())
    rnd.shuffle(items)
    assert url_key(build("http", host, path, dict(items))) == url_key(
        build("http", host, path, params)
    )


@given(HOSTS, SEGMENTS, PARAMS)
def test_scheme_host_case_www_and_default_ports_do_not_change_the_key(host, path, params):
    key = url_key(build("https", host, path, params))
    assert url_key(build("HTTPS", "WWW." + host.upper(), path, params, port=":443")) == key
    assert url_key(build("http", host, path, params, port=":80")) == key


@given(HOSTS, SEGMENTS, SEGMENTS)
def test_different_paths_give_different_keys(host, path_a, path_b):
    assume(
        [s for s in path_a if s not in (".", "..")] != [s for s in path_b if s not in (".", "..")]
    )
    assume(all(s not in (".", "..") for s in path_a + path_b))
    assert url_key(build("https", host, path_a, {})) != url_key(build("https", host, path_b, {}))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://ex.com/a/./b/../c", "https://ex.com/a/c"),
        ("https://ex.com/%7Euser/caf%c3%a9", "https://ex.com/~user/café"),
        ("https://ex.com", "https://ex.com/"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://ex.com.:443/x", "https://ex.com/x"),
    ],
)
def test_equivalent_spellings_share_a_key(a, b):
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://ex.com/a%2Fb", "https://ex.com/a/b"),  # an escaped slash is not a separator
        ("https://ex.com:8080/x", "https://ex.com/x"),
        ("https://ex.com/x?id=1", "https://ex.com/x?id=2"),
        ("https://ex.com/X", "https://ex.com/x"),  # paths are case-sensitive
    ],
)
def test_different_pages_keep_different_keys(a, b):
    assert url_key(a) != url_key(b)


@pytest.mark.parametrize(
    "url",
    [
        "mailto:a@b.c",
        "javascript:alert(1)",
        "ftp://ex.com/f",
        "data:text/html,x",
        "//",
        "http://",
        "not a url",
        "http://ex.com:notaport/",
        "http://ex.com/\x00",
        None,
        "",
    ],
)
def test_only_http_urls_have_keys(url):
    assert http_url(url) is None
    assert url_key(url) is None


def test_relative_links_resolve_against_the_feed():
    assert http_url("/a b", "https://ex.com/feed/") == "https://ex.com/a%20b"
    assert http_url("item", "https://ex.com/feed/") == "https://ex.com/feed/item"


def test_content_hash_folds_case_and_whitespace_only():
    assert content_hash("Title", "Some  text\n") == content_hash("title", "some text")
    assert content_hash("Title", "Some text") != content_hash("Title", "Other text")
    assert content_hash(None, None) == content_hash("", "")
