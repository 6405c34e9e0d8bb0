"""Human output of list-sas / list-conns / stats from the control schema."""

from __future__ import annotations

from ikepy.cli.format import duration, format_conns, format_sas, format_stats

SAMPLE_SA = {
    "name": "net", "uniqueid": 1, "state": "ESTABLISHED", "version": 2, "role": "initiator",
    "local_addr": "10.99.0.1", "local_port": 500, "remote_addr": "10.99.0.2", "remote_port": 500,
    "local_id": "left", "remote_id": "right",
    "spi_i": "1b2c3d4e5f607182", "spi_r": "9f8e7d6c5b4a3928",
    "algorithms": "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
    "nat_local": False, "nat_remote": False, "established_s": 12, "rekey_in_s": 14340,
    "children": [{
        "name": "net", "uniqueid": 1, "reqid": 1, "state": "INSTALLED", "mode": "tunnel",
        "protocol": "esp", "encap": True, "spi_in": "c1a2b3c4", "spi_out": "c5d6e7f8",
        "algorithms": "AES_GCM_16-256", "local_ts": ["10.1.0.0/24"], "remote_ts": ["10.2.0.0/24"],
        "bytes_in": 1234, "packets_in": 10, "bytes_out": 1234, "packets_out": 10,
        "installed_s": 12, "rekey_in_s": 3540, "life_in_s": None,
    }],
}

EXPECTED = """\
net: #1, ESTABLISHED, IKEv2, 1b2c3d4e5f607182_i* 9f8e7d6c5b4a3928_r
  local  'left' @ 10.99.0.1[500]
  remote 'right' @ 10.99.0.2[500]
  AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
  established 12s ago, rekeying in 3h59m
    net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
      installed 12s ago, rekeying in 59m
      in  c1a2b3c4,   1234 bytes,    10 packets
      out c5d6e7f8,   1234 bytes,    10 packets
      local  10.1.0.0/24
      remote 10.2.0.0/24"""


def test_list_sas_like_swanctl():
    assert format_sas([SAMPLE_SA]) == EXPECTED


def test_responder_marks_its_own_spi_and_nat():
    sa = dict(SAMPLE_SA, role="responder", nat_remote=True, rekey_in_s=None, children=[])
    text = format_sas([sa])
    assert "1b2c3d4e5f607182_i 9f8e7d6c5b4a3928_r*" in text
    assert "remote 'right' @ 10.99.0.2[500] (behind NAT)" in text
    assert "established 12s ago\n" in text + "\n"


def test_empty_lists():
    assert format_sas([]) == "no IKE SAs"
    assert format_conns([]) == "no connections loaded"


def test_durations():
    assert [duration(s) for s in (0, 12, 60, 61, 600, 3540, 3599, 3600, 14340, 90000)] == [
        "0s", "12s", "1m", "1m1s", "10m", "59m", "59m", "1h", "3h59m", "1d1h"]


def test_stats_sorted_name_value():
    assert format_stats({"b": 2, "a": 1, "dataplane": {"drops": 0}}) == "a: 1\nb: 2\ndataplane.drops: 0"


def test_list_conns_generic():
    text = format_conns([{"name": "net", "version": 2, "local_addrs": ["10.99.0.1"],
                          "remote_addrs": ["10.99.0.2"], "proposals": "aes256gcm16-prfsha256-x25519",
                          "children": [{"name": "net", "mode": "tunnel", "local_ts": ["10.1.0.0/24"]}]}])
    assert text.splitlines() == [
        "net: IKEv2, 10.99.0.1...10.99.0.2",
        "  proposals: aes256gcm16-prfsha256-x25519",
        "  net: TUNNEL",
        "    local_ts: 10.1.0.0/24",
    ]
