"""swanctl.conf and TOML -> Config: the testbed's file, equality of both syntaxes,
includes, merging, and source locations."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from ikepy.config import ConfigError, load_config, load_config_text

# The swanctl.conf of /work/shared/testbed/README.md (works between two strongSwans)
TESTBED = """\
connections {
  net {
    local_addrs = 10.99.0.2
    remote_addrs = 10.99.0.1
    encap = yes
    version = 2
    proposals = aes256gcm16-prfsha256-x25519
    local { auth = psk
            id = right }
    remote { auth = psk
             id = left }
    children { net { local_ts = 10.2.0.0/24
                     remote_ts = 10.1.0.0/24
                     esp_proposals = aes256gcm16-x25519 } }
  }
}
secrets { ike-1 { id-1 = left
                  id-2 = right
                  secret = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe" } }
"""

TESTBED_TOML = """\
[connections.net]
local_addrs = "10.99.0.2"
remote_addrs = ["10.99.0.1"]
encap = true
version = 2
proposals = "aes256gcm16-prfsha256-x25519"

[connections.net.local]
auth = "psk"
id = "right"

[connections.net.remote]
auth = "psk"
id = "left"

[connections.net.children.net]
local_ts = "10.2.0.0/24"
remote_ts = ["10.1.0.0/24"]
esp_proposals = "aes256gcm16-x25519"

[secrets.ike-1]
id-1 = "left"
id-2 = "right"
secret = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"
"""


def test_testbed_conf_parses_into_expected_objects() -> None:
    loaded = load_config_text(TESTBED, "swanctl.conf")
    assert loaded.warnings == ()
    cfg = loaded.config
    assert list(cfg.connections) == ["net"]
    net = cfg.connections["net"]
    assert net.version == 2
    assert net.local_addrs == ("10.99.0.2",)
    assert net.remote_addrs == ("10.99.0.1",)
    assert net.encap is True
    assert net.proposals_text == "aes256gcm16-prfsha256-x25519"
    assert len(net.proposals) == 1
    assert (net.local_port, net.remote_port) == (500, 500)
    assert (net.rekey_time, net.over_time, net.rand_time, net.reauth_time) == (
        14400.0, 1440.0, 1440.0, 0.0)
    assert net.mobike and net.fragmentation == "yes" and net.unique == "no"
    assert net.keyingtries == 1 and net.dpd_delay == 0
    assert [(a.name, a.auth, a.id) for a in net.local] == [("local", "psk", "right")]
    assert [(a.name, a.auth, a.id) for a in net.remote] == [("remote", "psk", "left")]
    assert (net.file, net.line) == ("swanctl.conf", 2)
    assert net.local[0].line == 8 and net.remote[0].line == 10
    child = net.children["net"]
    assert child.line == 12
    assert [t.network() for t in child.local_ts] == [ipaddress.ip_network("10.2.0.0/24")]
    assert [t.network() for t in child.remote_ts] == [ipaddress.ip_network("10.1.0.0/24")]
    assert child.esp_proposals_text == "aes256gcm16-x25519"
    assert (child.rekey_time, child.life_time, child.rand_time) == (3600.0, 3960.0, 360.0)
    assert child.mode == "tunnel" and child.start_action == "none"
    assert child.dpd_action == "clear" and child.close_action == "none"
    assert child.replay_window == 32
    assert len(cfg.secrets) == 1
    assert cfg.secrets[0].ids == ("left", "right")
    assert cfg.secrets[0].secret == b"Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"
    assert cfg.find_psk("right", "left") == b"Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"


def test_toml_gives_equal_objects() -> None:
    a = load_config_text(TESTBED, "swanctl.conf").config
    b = load_config_text(TESTBED_TOML, "ikepy.toml", "toml").config
    assert a == b
    assert b.connections["net"].children["net"].line == 16  # [connections.net.children.net]


def test_objects_are_immutable() -> None:
    cfg = load_config_text(TESTBED, "swanctl.conf").config
    with pytest.raises(AttributeError):
        cfg.connections["net"].version = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.connections["x"] = cfg.connections["net"]  # type: ignore[index]
    assert isinstance(cfg.connections["net"].local, tuple)


def test_defaults_without_optional_keys() -> None:
    text = """
    connections { c { local { auth = psk } remote { auth = psk } children { ch { } } } }
    secrets { ike { secret = s } }
    """
    cfg = load_config_text(text, "x.conf").config
    c = cfg.connections["c"]
    assert c.version == 0
    assert c.local_addrs == ("%any",) and c.remote_addrs == ("%any",)
    assert c.local[0].id is None  # = the local address, as strongSwan
    assert c.remote[0].id == "%any"
    assert c.proposals_text == "default"
    ch = c.children["ch"]
    assert ch.esp_proposals_text == "default"
    assert [t.dynamic for t in ch.local_ts + ch.remote_ts] == [True, True]


def test_childless_connection_allowed() -> None:
    text = "connections { c { local { auth = psk } remote { auth = psk } } }\n" \
           "secrets { ike { secret = x } }"
    assert dict(load_config_text(text, "x").config.connections["c"].children) == {}


def test_quoting_comments_and_value_forms() -> None:
    text = r'''# leading comment
connections {
  c {   # comment after brace
    remote_addrs = 10.0.0.1, 10.0.0.2   # trailing comment
    local { auth = psk
            id = "CN=a b,  O=x"  }
    remote { auth = psk
             id = "quote\"d \\ #not comment" }
  }
}
secrets { ike { secret = "two  spaces" } ike2 { secret = several   words here } }
'''
    cfg = load_config_text(text, "x").config
    c = cfg.connections["c"]
    assert c.remote_addrs == ("10.0.0.1", "10.0.0.2")
    assert c.local[0].id == "CN=a b,  O=x"
    assert c.remote[0].id == 'quote"d \\ #not comment'
    assert cfg.secrets[0].secret == b"two  spaces"
    assert cfg.secrets[1].secret == b"several words here"  # blanks collapse, as strongSwan


def test_sections_written_twice_are_merged() -> None:
    text = """
connections { c { remote_addrs = 1.1.1.1
                  local { auth = psk } } }
connections { c { remote_addrs = 2.2.2.2
                  remote { auth = psk } } }
secrets { ike { secret = x } }
"""
    loaded = load_config_text(text, "m.conf")
    c = loaded.config.connections["c"]
    assert c.remote_addrs == ("2.2.2.2",)  # the later write wins
    assert c.local[0].auth == "psk" and c.remote[0].auth == "psk"


def test_includes_relative_and_globbed(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text(
        "connections { a { local { auth = psk } remote { auth = psk } } }\n")
    (tmp_path / "conf.d" / "b.conf").write_text(
        "connections { b { local { auth = psk } remote { auth = psk }\n  bogus = 1 } }\n")
    (tmp_path / "secrets.inc").write_text("ike-x { secret = 0x00ff }\n")
    main = tmp_path / "swanctl.conf"
    main.write_text("include conf.d/*.conf\nsecrets {\n  include secrets.inc\n}\n")
    os.chmod(tmp_path / "secrets.inc", 0o600)
    loaded = load_config(main)
    assert list(loaded.config.connections) == ["a", "b"]
    assert loaded.config.secrets[0].secret == b"\x00\xff"
    assert loaded.config.secrets[0].file == str(tmp_path / "secrets.inc")
    [w] = loaded.warnings
    assert str(w) == f"{tmp_path / 'conf.d' / 'b.conf'}:2: connections.b.bogus: unknown key, ignored"


def test_include_missing_file_is_error(tmp_path: Path) -> None:
    main = tmp_path / "swanctl.conf"
    main.write_text("# x\ninclude nothere.conf\n")
    with pytest.raises(ConfigError) as ei:
        load_config(main)
    assert str(ei.value) == f"{main}:2: include '{tmp_path / 'nothere.conf'}': no such file"


def test_include_glob_matching_nothing_is_fine(tmp_path: Path) -> None:
    main = tmp_path / "swanctl.conf"
    main.write_text("include conf.d/*.conf\n")
    assert dict(load_config(main).config.connections) == {}


def test_include_loop_is_reported(tmp_path: Path) -> None:
    main = tmp_path / "swanctl.conf"
    main.write_text("include swanctl.conf\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(main)


def test_load_config_picks_syntax_by_extension(tmp_path: Path) -> None:
    t = tmp_path / "ikepy.toml"
    t.write_text(TESTBED_TOML)
    s = tmp_path / "swanctl.conf"
    s.write_text(TESTBED)
    os.chmod(t, 0o600)
    os.chmod(s, 0o600)
    a, b = load_config(s), load_config(t)
    assert a.config == b.config
    assert a.warnings == b.warnings == ()
    assert b.config.source == str(t)


def test_world_readable_secrets_warns(tmp_path: Path) -> None:
    s = tmp_path / "swanctl.conf"
    s.write_text(TESTBED)
    os.chmod(s, 0o644)
    [w] = load_config(s).warnings
    assert str(w) == (f"{s}: secrets: holds secrets but is readable by other users "
                      "(mode 0644); chmod 600")


def test_readable_file_without_secrets_does_not_warn(tmp_path: Path) -> None:
    s = tmp_path / "swanctl.conf"
    s.write_text("connections { }\n")
    os.chmod(s, 0o644)
    assert load_config(s).warnings == ()
