"""Engine-wide settings (strongswan.conf's charon section has the same knobs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    # UDP ports we listen on: IKE and the NAT-T port (RFC 3948, RFC 7296 2.23)
    ike_port: int = 500
    nat_t_port: int = 4500
    # Retransmission, RFC 7296 2.1, strongSwan's defaults:
    # timeout * base**n for try n, give up after `retransmit_tries`.
    retransmit_timeout: float = 4.0
    retransmit_base: float = 1.8
    retransmit_tries: int = 5
    retransmit_jitter: float = 0.0  # percent, as strongSwan's retransmit_jitter
    # A responder's half-open IKE_SA is dropped after this (charon.half_open_timeout)
    half_open_timeout: float = 30.0
    # COOKIE (RFC 7296 2.6) once this many half-open SAs exist (charon.cookie_threshold);
    # 0 demands a cookie from every initiator.
    cookie_threshold: int = 30
    # At most this many half-open IKE_SAs per peer address (charon.block_threshold);
    # further IKE_SA_INIT from that address are dropped and counted.
    block_threshold: int = 5
    # At most this many half-open IKE_SAs in all (charon.init_limit_half_open; 0: no limit).
    init_limit_half_open: int = 0
    # After this many failed authentications from one address, its IKE_SA_INIT requests
    # are ignored for a back-off that doubles with each further failure, up to the max.
    auth_failures_allowed: int = 3
    auth_backoff_max: float = 300.0
    # Seconds a COOKIE secret is used before it is rotated.
    cookie_secret_lifetime: float = 120.0
    # Nonce length we send (RFC 7296 2.10: at least half the PRF key size, >= 16).
    nonce_size: int = 32
    # Seconds an inbound CHILD_SA is kept after a delete/rekey (in-flight packets).
    inbound_linger: float = 0.0
    # Seconds to wait for DELETE responses at shutdown.
    shutdown_timeout: float = 3.0
