"""The control plane fixture's own decisions, checked on this machine."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.e2e import controlplane
from tests.e2e.controlplane import ControlPlane


def test_advertise_address_without_default_route_is_a_local_non_loopback_ip(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(controlplane, "has_default_route", lambda: False)
    address = controlplane.advertise_address()
    assert address is not None and not ipaddress.ip_address(address).is_loopback
    if address != "192.0.2.1":  # the fallback for machines with no interface at all
        with socket.socket() as sock:
            sock.bind((address, 0))  # it is one of this machine's addresses


def test_advertise_address_left_to_the_apiserver_with_a_default_route(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(controlplane, "has_default_route", lambda: True)
    assert controlplane.advertise_address() is None


def test_kubernetes_service_endpoint_is_not_loopback(control_plane: ControlPlane):
    """The apiserver advertised a routable address (what --advertise-address is for)."""
    endpoints = control_plane.kubectl_json(
        "get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes"
    )
    addresses = [a for s in endpoints["items"] for e in s["endpoints"] for a in e["addresses"]]
    assert addresses and not any(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


def test_discovery_is_readable_anonymously(control_plane: ControlPlane):
    assert control_plane.get("/openid/v1/jwks", admin=False)["keys"]
