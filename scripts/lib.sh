# Shared by scripts/demo and scripts/test.
VENV=${IKEPY_VENV:-.venv}
DEBIAN_PACKAGES="python3 python3-venv python3-pip strongswan-charon strongswan-swanctl
 libcharon-extra-plugins libstrongswan-extra-plugins strongswan-pki tshark ike-scan iperf3
 iproute2 iputils-ping nftables procps"

install_debian_packages() {
    local wanted=${1:-$DEBIAN_PACKAGES} missing=()
    for p in $wanted; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture: answer no, without a prompt
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            if [ "$(id -u)" = 0 ]; then
                apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
                python3 -m venv "$VENV"
            else
                echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)" >&2
                exit 1
            fi
        fi
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
}
