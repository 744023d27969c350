#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and integration
# tests. Installs what a fresh Debian machine lacks (Graphviz for the SVG
# test; WireGuard tools, iproute2, nftables and HAProxy for the namespace
# tests; BIRD 2 and FRR for the BGP tests; Prometheus and curl for the
# metrics test; rustfmt and clippy components),
# so it needs no set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v wg >/dev/null 2>&1 || missing+=(wireguard-tools)
command -v wireguard-go >/dev/null 2>&1 || missing+=(wireguard-go)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v sysctl >/dev/null 2>&1 || missing+=(procps)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# a gateway started with the systemd unit's credentials (User=, ambient caps)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# the simulator: kernel firewalls, HAProxy as the ALB stand-in
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
# BGP: BIRD 2 in the lab (AWS's side, the VPC router's, the office's) and
# beside the gateway (it follows the kernel table BIRD writes); FRR for an
# office node played by FRR and the interop test
command -v birdc >/dev/null 2>&1 || [ -x /usr/sbin/birdc ] || missing+=(bird2)
command -v vtysh >/dev/null 2>&1 || missing+=(frr)
# sim test --report's page is rendered by headless Chromium (tests/sim_lab.rs)
command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || missing+=(chromium-headless-shell)
# a real Prometheus server scraping the gateway's /metrics; curl asks its API
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: see https://rustup.rs" >&2
  exit 1
fi
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
