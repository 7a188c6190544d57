"""Client IP resolution behind proxies, and the adaptive load decision."""

from __future__ import annotations

from tillpoint.security.client_ip import parse_networks, resolve_client_ip
from tillpoint.security.load import LoadMonitor

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve_client_ip("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    assert resolve_client_ip("10.1.2.3", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_the_rightmost_untrusted_hop_wins_over_a_spoofed_leftmost_entry() -> None:
    # The client sent "1.1.1.1" itself; our proxies appended what they saw.
    header = "1.1.1.1, 198.51.100.7, 10.0.0.5"
    assert resolve_client_ip("127.0.0.1", header, PROXIES) == "198.51.100.7"


def test_garbage_in_forwarded_for_falls_back_to_the_last_trusted_address() -> None:
    assert resolve_client_ip("10.0.0.1", "not-an-ip", PROXIES) == "10.0.0.1"
    assert resolve_client_ip("10.0.0.1", "[2001:db8::1]:443", PROXIES) == "2001:db8::1"


def test_no_proxies_configured_means_the_peer() -> None:
    assert resolve_client_ip("10.0.0.1", "198.51.100.1", ()) == "10.0.0.1"
    assert resolve_client_ip(None, "198.51.100.1", PROXIES) == "unknown"


def _monitor(**kw: object) -> LoadMonitor:
    values: dict[str, object] = {
        "in_flight_threshold": 100,
        "lag_threshold_ms": 250,
        "surge_multiplier": 0.5,
    }
    values.update(kw)
    return LoadMonitor(**values)  # type: ignore[arg-type]


def test_limits_shrink_under_load_and_recover_when_it_falls() -> None:
    monitor = _monitor()
    assert monitor.scaled(1000) == 1000
    assert monitor.observe(in_flight=150, lag_ms=0) is True
    assert monitor.scaled(1000) == 500 and monitor.scaled(5) == 2 and monitor.scaled(1) == 1
    assert monitor.observe(in_flight=10, lag_ms=300) is True  # event-loop lag alone
    assert monitor.observe(in_flight=10, lag_ms=5) is False
    assert monitor.scaled(1000) == 1000


def test_disabled_adaptive_mode_never_shrinks() -> None:
    monitor = _monitor(enabled=False)
    assert monitor.observe(in_flight=10_000, lag_ms=10_000) is False
    assert monitor.scaled(50) == 50


def test_in_flight_counting_tracks_the_peak() -> None:
    monitor = _monitor()
    for _ in range(3):
        monitor.request_started()
    monitor.request_finished()
    assert monitor.in_flight == 2 and monitor.peak_in_flight == 3
