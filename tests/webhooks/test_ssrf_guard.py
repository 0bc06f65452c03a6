"""The outbound-URL guard's decisions: literal addresses and an injected resolver, no network."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.ssrf import BlockedUrl, UrlGuard


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.5.6.7", "loopback"),
        ("[::1]", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("[fd12:3456::1]", "private"),
        ("169.254.10.10", "link-local"),
        ("[fe80::1]", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("169.254.169.254", "metadata"),
        ("[fd00:ec2::254]", "metadata"),
        ("168.63.129.16", "metadata"),
        ("[::ffff:127.0.0.1]", "wrapping 127.0.0.1, a loopback"),
        ("[::ffff:169.254.169.254]", "wrapping 169.254.169.254, a cloud metadata"),
        ("[2002:a00:1::]", "wrapping 10.0.0.1, a private"),
        ("[64:ff9b::a9fe:a9fe]", "wrapping 169.254.169.254"),
    ],
)
def test_internal_literal_addresses_are_refused(address: str, reason: str) -> None:
    with pytest.raises(BlockedUrl) as raised:
        UrlGuard().check(f"http://{address}:8080/hook")
    assert reason in raised.value.message
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/x", "http://[2001:4860:4860::8888]/", "http://1.1.1.1:9000/a?b=c"]
)
def test_public_literal_addresses_pass(url: str) -> None:
    target = UrlGuard().check(url)
    assert len(target.addresses) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/",
        "file:///etc/passwd",
        "gopher://8.8.8.8/",
        "http:///nohost",
        "",
        "http://8.8.8.8:99999/",
        "http://8.8.8.8\\@127.0.0.1/",
        "http://exa mple.com/",
        "javascript:alert(1)",
    ],
)
def test_malformed_or_foreign_scheme_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedUrl):
        UrlGuard(resolver=resolver({"exa mple.com": ["8.8.8.8"]})).check(url)


def test_every_resolved_address_must_be_public() -> None:
    guard = UrlGuard(
        resolver=resolver(
            {"mixed.example": ["8.8.8.8", "10.0.0.5"], "good.example": ["8.8.4.4", "2001:4860::1"]}
        )
    )
    with pytest.raises(BlockedUrl) as raised:
        guard.check("https://mixed.example/hook")
    assert "resolves to 10.0.0.5" in raised.value.message
    target = guard.check("https://GOOD.example./hook")
    assert target.host == "good.example" and target.port == 443
    assert [str(a) for a in target.addresses] == ["8.8.4.4", "2001:4860::1"]
    assert target.request_target == "/hook"


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(BlockedUrl) as raised:
        UrlGuard(resolver=resolver({})).check("https://nowhere.example/")
    assert "could not be resolved" in raised.value.message


def test_metadata_host_names_are_refused_before_resolution() -> None:
    guard = UrlGuard(resolver=resolver({"metadata.google.internal": ["8.8.8.8"]}))
    with pytest.raises(BlockedUrl) as raised:
        guard.check("http://metadata.google.internal/computeMetadata/v1/")
    assert "metadata" in raised.value.message


def test_allow_list_by_address_network_and_host() -> None:
    table = {"build.internal": ["10.20.0.7"], "other.internal": ["10.30.0.1"]}
    guard = UrlGuard(["127.0.0.1", "10.20.0.0/16", "build.internal", "[::1]"], resolver(table))
    guard.check("http://127.0.0.1:5000/")
    guard.check("http://[::1]:5000/")
    guard.check("http://10.20.9.9/")
    guard.check("http://build.internal/")
    for refused in (
        "http://127.0.0.2/",
        "http://other.internal/",
        "http://10.21.0.1/",
        "http://[::ffff:127.0.0.2]/",
    ):
        with pytest.raises(BlockedUrl):
            guard.check(refused)


def test_a_wide_network_does_not_allow_metadata_but_an_exact_entry_does() -> None:
    with pytest.raises(BlockedUrl):
        UrlGuard(["169.254.0.0/16"]).check("http://169.254.169.254/latest/meta-data/")
    UrlGuard(["169.254.0.0/16"]).check("http://169.254.1.1/")
    UrlGuard(["169.254.169.254"]).check("http://169.254.169.254/latest/meta-data/")


def test_bad_allow_list_entries_are_rejected() -> None:
    with pytest.raises(InvalidParameter):
        UrlGuard(["10.0.0.0/99"])
